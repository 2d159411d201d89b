//! Journal benchmarks: reader open latency by journal size, append throughput, rebuild time.
//!
//! Run with `cargo bench -j2 -p journal`. Fixtures live under the target directory's temporary
//! folder; the 100k mail files for the rebuild are created once and reused by later runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use journal::{
    IdGenerator, JournalWriter, MailStore, MessageId, MessageMeta, RebuildSelection, Record,
    Restriction, Snapshot, Username,
};
use rand::seq::SliceRandom;

const READER_SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const READER_OPENS: usize = 5_000;
const REBUILD_MESSAGES: usize = 100_000;
/// Size of the synthetic messages of the reader and append benchmarks (no mail files needed).
const META: MessageMeta = MessageMeta {
    size: 4000,
    header_len: 600,
};

fn main() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("journal-bench");
    fs::create_dir_all(&base).expect("create bench directory");
    println!("journal benchmarks (fixtures in {})", base.display());
    println!();
    reader_latency(&base);
    println!();
    append_throughput(&base);
    println!();
    rebuild_time(&base);
}

/// Fresh message ids: one submission per 1000 messages, as a long series would produce.
fn ids(count: usize) -> Vec<MessageId> {
    let generator = IdGenerator::new();
    let mut submission = generator.next_submission();
    (0..count)
        .map(|i| {
            if i > 0 && i % 1000 == 0 {
                submission = generator.next_submission();
            }
            submission
                .message((i % 1000 + 1) as u16)
                .expect("index >= 1")
        })
        .collect()
}

fn fresh_journal(path: &Path) -> JournalWriter {
    let _ = fs::remove_file(path);
    JournalWriter::init(path).expect("init journal");
    JournalWriter::open(path).expect("open journal")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn reader_latency(base: &Path) {
    println!("reader: {READER_OPENS} logins per size; open = Snapshot::open + len;");
    println!("        login = open + octets (STAT) + decode the last record (first page fault)");
    let user = Username::parse("student").expect("valid username");
    let paths: Vec<PathBuf> = READER_SIZES
        .iter()
        .map(|&n| reader_fixture(base, n))
        .collect();
    // Interleave the sizes so drift on a shared machine (frequency, neighbours) hits all alike.
    let mut open_only = vec![Vec::with_capacity(READER_OPENS); paths.len()];
    let mut with_get = vec![Vec::with_capacity(READER_OPENS); paths.len()];
    for round in 0..READER_OPENS + 200 {
        for (i, path) in paths.iter().enumerate() {
            let start = Instant::now();
            let snap = Snapshot::open(path, &user).expect("open snapshot");
            let len = std::hint::black_box(snap.len());
            let opened = start.elapsed();
            let octets = snap.octets().expect("octets");
            let last = snap.get(len - 1).expect("decode");
            let got = start.elapsed();
            std::hint::black_box((octets, last));
            drop(snap);
            if round >= 200 {
                open_only[i].push(opened);
                with_get[i].push(got);
            }
        }
    }
    println!(
        "{:>10} {:>14} {:>14} {:>14} {:>14}",
        "records", "open med µs", "open p99 µs", "login med µs", "login p99 µs"
    );
    let mut medians = Vec::new();
    for ((n, mut open), mut get) in READER_SIZES.iter().zip(open_only).zip(with_get) {
        open.sort();
        get.sort();
        medians.push((percentile(&open, 0.5), percentile(&get, 0.5)));
        println!(
            "{n:>10} {:>14.1} {:>14.1} {:>14.1} {:>14.1}",
            micros(percentile(&open, 0.5)),
            micros(percentile(&open, 0.99)),
            micros(percentile(&get, 0.5)),
            micros(percentile(&get, 0.99))
        );
    }
    let ratio = |pick: fn(&(Duration, Duration)) -> Duration| {
        micros(pick(&medians[2])) / micros(pick(&medians[0]))
    };
    println!(
        "median 1M / 1k: open {:.2}x, login {:.2}x (target: within 1.2x)",
        ratio(|m| m.0),
        ratio(|m| m.1)
    );
}

/// A journal of `n` records, reused from an earlier run when it is intact.
fn reader_fixture(base: &Path, n: usize) -> PathBuf {
    let path = base.join(format!("reader-{n}"));
    // Journals from before running totals existed would make octets() walk every record.
    let has_total =
        xattr::get(&path, journal::attrs::DATA_END_OCTETS_XATTR).is_ok_and(|t| t.is_some());
    let reusable = has_total
        && JournalWriter::open(&path)
            .and_then(|w| w.data_end())
            .is_ok_and(|end| end == (n * journal::RECORD_LEN) as u64);
    if !reusable {
        let writer = fresh_journal(&path);
        for chunk in ids(n).chunks(100_000) {
            let records: Vec<_> = chunk.iter().map(|id| Record::new(*id, META)).collect();
            writer.append(&records).expect("append");
        }
    }
    path
}

fn append_throughput(base: &Path) {
    println!("append (each batch: lock, pwrite, fdatasync, set data_end, fsync)");
    println!(
        "{:>10} {:>10} {:>14} {:>16}",
        "batch", "batches", "records/s", "median batch µs"
    );
    for (batch, batches) in [(1usize, 2_000usize), (100, 300)] {
        let path = base.join(format!("append-{batch}"));
        let writer = fresh_journal(&path);
        let all: Vec<_> = ids(batch * batches)
            .into_iter()
            .map(|id| Record::new(id, META))
            .collect();
        let mut samples = Vec::with_capacity(batches);
        let start = Instant::now();
        for chunk in all.chunks(batch) {
            let t = Instant::now();
            writer.append(chunk).expect("append");
            samples.push(t.elapsed());
        }
        let total = start.elapsed();
        samples.sort();
        println!(
            "{batch:>10} {batches:>10} {:>14.0} {:>16.1}",
            all.len() as f64 / total.as_secs_f64(),
            micros(percentile(&samples, 0.5))
        );
    }
}

/// 100k small mail files, created once (without per-file fsync: this is fixture setup).
fn mail_fixture(base: &Path) -> (MailStore, Vec<MessageId>) {
    let dir: PathBuf = base.join("rebuild-mail");
    let store = MailStore::new(&dir);
    let complete = base.join("rebuild-mail.complete");
    if !complete.exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create mail dir");
        println!("creating {REBUILD_MESSAGES} mail files once...");
        for id in ids(REBUILD_MESSAGES) {
            let wire = format!("Message-ID: <{id}@bench>\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
            let path = store.path(&id);
            fs::write(&path, &wire).expect("write mail");
            let header = journal::header_len(wire.as_bytes()).expect("header");
            xattr::set(&path, "user.header_len", &header.to_le_bytes()).expect("xattr");
        }
        fs::write(&complete, "").expect("mark fixture complete");
    }
    let ids = store.list().expect("list mail");
    (store, ids)
}

fn rebuild_time(base: &Path) {
    let (store, mut ids) = mail_fixture(base);
    ids.shuffle(&mut rand::rng());
    let path = base.join("rebuild-journal");
    let writer = fresh_journal(&path);
    let half = ids.len() / 2;
    let records: Vec<_> = ids
        .iter()
        .map(|id| {
            let meta = store.meta(id).expect("meta");
            Record::new(*id, meta)
        })
        .collect();
    writer.append(&records[..half]).expect("append");
    for name in ["frozen1", "frozen2", "frozen3"] {
        let user = Username::parse(name).expect("valid username");
        writer.restrict(&user, Restriction::Deny).expect("restrict");
    }
    writer.append(&records[half..]).expect("append");

    println!("rebuild of {} messages (3 caps translated)", ids.len());
    println!("{:>10} {:>10}", "selection", "seconds");
    for (label, selection) in [
        ("journal", RebuildSelection::Journal),
        ("all-mail", RebuildSelection::AllMail),
        ("journal", RebuildSelection::Journal),
    ] {
        let start = Instant::now();
        let report = writer
            .rebuild(&store, selection, &|_, _| {})
            .expect("rebuild");
        let elapsed = start.elapsed();
        assert_eq!(report.records as usize, ids.len());
        println!("{label:>10} {:>10.2}", elapsed.as_secs_f64());
    }
}
