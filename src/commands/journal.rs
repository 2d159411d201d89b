//! `coursemail journal init|append|rebuild|verify|show|restrict` (SPEC §5, §12).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use journal::MessageId;
use journal::reader::Snapshot;
use journal::record::Record;
use journal::store::MailStore;
use journal::verify::verify;
use journal::writer::{JournalWriter, RebuildSelection, Restriction};

use super::username;
use crate::cli::{JournalCommand, RestrictAction};
use crate::context::Context;
use crate::progress;

/// Exit status of `journal verify` when the journal itself is inconsistent.
pub const EXIT_JOURNAL_INCONSISTENT: u8 = 3;
/// Exit status of `journal verify` when the journal and mail/ disagree.
pub const EXIT_MAIL_MISMATCH: u8 = 4;

/// Runs one `journal` subcommand.
pub fn run(ctx: &Context, cmd: JournalCommand) -> Result<ExitCode> {
    let path = ctx.root.journal_file();
    let store = MailStore::new(ctx.root.mail_dir());
    let open = || {
        JournalWriter::open(&path)
            .with_context(|| format!("cannot open the journal {}", path.display()))
    };
    match cmd {
        JournalCommand::Init => {
            ctx.prepare_data_root()?;
            JournalWriter::init(&path)?;
            println!("journal ready at {}", path.display());
        }
        JournalCommand::Append { ids } => {
            let ids = read_ids(ids)?;
            let records = ids
                .iter()
                .map(|id| {
                    let meta = store.meta(id).with_context(|| {
                        format!("message {id} is not in {}", ctx.root.mail_dir().display())
                    })?;
                    Ok(Record::new(*id, meta))
                })
                .collect::<Result<Vec<_>>>()?;
            let outcome = open()?.append(&records)?;
            println!(
                "released {} message(s); {} already in the journal",
                outcome.appended, outcome.already_present
            );
        }
        JournalCommand::Rebuild { all } => {
            let selection = if all {
                RebuildSelection::AllMail
            } else {
                RebuildSelection::Journal
            };
            let bar = progress::bar("rebuild");
            let report = open()?.rebuild(&store, selection, &progress::callback(&bar))?;
            bar.finish_and_clear();
            println!("{report}");
        }
        JournalCommand::Verify => {
            let bar = progress::bar("verify");
            let report = verify(&path, &store, &progress::callback(&bar))?;
            bar.finish_and_clear();
            for problem in &report.internal {
                println!("journal: {problem}");
            }
            for problem in &report.external {
                println!("mail: {problem}");
            }
            println!(
                "{} record(s); {} journal problem(s); {} mismatch(es) with mail/",
                report.records,
                report.internal.len(),
                report.external.len()
            );
            if !report.internal.is_empty() {
                return Ok(ExitCode::from(EXIT_JOURNAL_INCONSISTENT));
            }
            if !report.external.is_empty() {
                return Ok(ExitCode::from(EXIT_MAIL_MISMATCH));
            }
        }
        JournalCommand::Show { user: Some(name) } => {
            let user = username(&name)?;
            let snapshot = Snapshot::open(&path, &user)?;
            println!(
                "{user} sees {} message(s) ({} bytes of journal)",
                snapshot.len(),
                snapshot.limit_bytes()
            );
            for (i, record) in snapshot.iter().enumerate() {
                print_record(i, &record?);
            }
        }
        JournalCommand::Show { user: None } => {
            let writer = open()?;
            let records = writer.records()?;
            // Derived from the records read, not read again: an append in between would
            // otherwise print an end that does not match the list below.
            let data_end = records.len() as u64 * journal::record::RECORD_LEN as u64;
            println!("data_end {data_end} ({} record(s))", records.len());
            for (user, cap) in writer.caps()? {
                println!(
                    "cap {user} {cap} ({} record(s))",
                    cap / journal::record::RECORD_LEN as u64
                );
            }
            for (i, record) in records.iter().enumerate() {
                print_record(i, record);
            }
        }
        JournalCommand::Restrict { action, user } => {
            let user = username(&user)?;
            let how = match action {
                RestrictAction::Deny => Restriction::Deny,
                RestrictAction::Update => Restriction::Update,
                RestrictAction::Allow => Restriction::Allow,
            };
            let writer = open()?;
            writer.restrict(&user, how)?;
            match writer.caps()?.iter().find(|(u, _)| *u == user) {
                Some((_, cap)) => println!("{user} sees the journal up to byte {cap}"),
                None => println!("{user} sees the whole journal"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_record(index: usize, r: &Record) {
    println!(
        "{:>8} {} size {} header {} flags {}",
        index + 1,
        r.name,
        r.size,
        r.header_len,
        r.flags
    );
}

/// Message ids from the arguments; `-` stands for standard input, one id per line.
fn read_ids(args: Vec<String>) -> Result<Vec<MessageId>> {
    let mut ids = Vec::new();
    for arg in args {
        if arg == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                let line = line.trim();
                if !line.is_empty() {
                    ids.push(MessageId::parse(line)?);
                }
            }
        } else {
            ids.push(MessageId::parse(&arg)?);
        }
    }
    Ok(ids)
}
