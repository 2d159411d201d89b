//! Benchmark fixture: fills a data root's journal with RECORDS released messages, of which the
//! first STORED exist in mail/ with bodies of about SIZE bytes (the rest are records only, which
//! is all STAT and LIST read). Uses the journal crate's own writer, so totals and caps are real.
//!
//! Usage: cargo run --release -p pop --example seed_maildrop -- DATA RECORDS STORED SIZE

use journal::store::MailStore;
use journal::writer::JournalWriter;
use journal::{DataRoot, IdGenerator, MessageMeta, Record};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, records, stored, size] = args.as_slice() else {
        return Err("usage: seed_maildrop DATA RECORDS STORED SIZE".into());
    };
    let (records, stored, size): (usize, usize, usize) =
        (records.parse()?, stored.parse()?, size.parse()?);
    let root = DataRoot::new(data);
    root.create()?;
    JournalWriter::init(&root.journal_file())?;
    let writer = JournalWriter::open(&root.journal_file())?;
    let store = MailStore::new(root.mail_dir());
    let ids = IdGenerator::new();
    let line = format!("{}\r\n", "x".repeat(70));
    let mut batch = Vec::with_capacity(10_000);
    let mut index = 0u16;
    let mut session = ids.next_submission();
    for n in 0..records {
        // Sessions of up to 100 messages, like patch series.
        if index == 100 {
            session = ids.next_submission();
            index = 0;
        }
        index += 1;
        let id = session.message(index)?;
        let header =
            format!("Message-ID: <{id}@localhost>\r\nSubject: [PATCH] message {n}\r\n\r\n");
        let mut wire = header.clone().into_bytes();
        while wire.len() < size.max(header.len() + 3) - 3 {
            wire.extend_from_slice(line.as_bytes());
        }
        wire.extend_from_slice(b".\r\n");
        if n < stored {
            store.write(&id, &wire, header.len() as u64)?;
        }
        let meta = MessageMeta {
            size: wire.len() as u64,
            header_len: header.len() as u64,
        };
        batch.push(Record::new(id, meta));
        if batch.len() == batch.capacity() {
            writer.append(&batch)?;
            batch.clear();
        }
    }
    writer.append(&batch)?;
    println!(
        "{records} records, {stored} stored, in {}",
        root.root().display()
    );
    Ok(())
}
