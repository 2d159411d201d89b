//! Verify (SPEC §5): is the journal consistent in itself, and with `mail/`?
//!
//! Verify only reads, takes no lock and keeps going after a problem, so one run lists
//! everything wrong. Internal problems are the journal's own (offsets, records, caps, running
//! totals: a wrong total would make pop report a wrong maildrop size); external ones are
//! disagreements with the mail store. The CLI maps the two to different exit codes.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use crate::attrs::{Checkpoint, DATA_END_OCTETS_XATTR, octets_xattr};
use crate::error::JournalError;
use crate::file::{JournalFile, RawCap};
use crate::ids::{MessageId, Username};
use crate::record::{RECORD_LEN, Record};
use crate::store::{MailStore, StoreError};

/// Everything verify found, one human-readable line per problem.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records examined (the committed ones, or as many whole records as the file holds when
    /// `data_end` is unusable).
    pub records: u64,
    /// Problems of the journal itself.
    pub internal: Vec<String>,
    /// Records that disagree with `mail/`.
    pub external: Vec<String>,
}

impl VerifyReport {
    /// Whether no problem of either kind was found.
    pub fn is_consistent(&self) -> bool {
        self.internal.is_empty() && self.external.is_empty()
    }
}

/// Checks the journal at `journal` against `store`; `progress(done, total)` counts records.
///
/// Errors are reserved for not being able to look at all (no journal, unreadable file); every
/// inconsistency goes into the report.
pub fn verify(
    journal: &Path,
    store: &MailStore,
    progress: &dyn Fn(u64, u64),
) -> Result<VerifyReport, JournalError> {
    const PROGRESS_EVERY: u64 = 4096;
    let rec = RECORD_LEN as u64;
    let file = JournalFile::open(journal, false)?;
    let mut report = VerifyReport::default();
    let file_len = file.len()?;
    let (data_end, end) = committed_prefix(&file, file_len, &mut report.internal)?;
    let caps = file.raw_caps()?;
    check_caps(&caps, data_end, &mut report.internal);
    let mut totals = running_totals(&file, &caps, data_end, &mut report.internal)?;
    totals.extend(check_caps_file(
        journal,
        &file,
        data_end,
        &mut report.internal,
    )?);
    // The true sum at each offset a running total names; `None` once a record is unreadable.
    let mut sums_at: HashMap<u64, Option<u64>> =
        totals.iter().map(|(_, c)| (c.offset, None)).collect();
    let mut sum = Some(0u64);

    let total = end / rec;
    progress(0, total);
    let mut first_seen: HashMap<MessageId, u64> = HashMap::new();
    file.for_each_slot(0, end, |index, bytes| {
        if let Some(at) = sums_at.get_mut(&(index * rec)) {
            *at = sum;
        }
        match file.decode(index, bytes) {
            Err(e) => {
                sum = None;
                report.internal.push(e.to_string());
            }
            Ok(record) => {
                sum = sum.map(|s| s.saturating_add(record.octets()));
                match first_seen.entry(record.name) {
                    Entry::Vacant(slot) => {
                        slot.insert(index);
                    }
                    Entry::Occupied(first) => report.internal.push(format!(
                        "record {index} repeats message {} already at record {}",
                        record.name,
                        first.get()
                    )),
                }
                if let Some(problem) = check_external(store, index, &record) {
                    report.external.push(problem);
                }
            }
        }
        if (index + 1) % PROGRESS_EVERY == 0 {
            progress(index + 1, total);
        }
        Ok(())
    })?;
    if let Some(at) = sums_at.get_mut(&end) {
        *at = sum;
    }
    for (attr, claimed) in &totals {
        if let Some(Some(actual)) = sums_at.get(&claimed.offset)
            && *actual != claimed.octets
        {
            report.internal.push(format!(
                "running total {attr} says the records below offset {} add up to {} bytes, \
                 but they add up to {actual}",
                claimed.offset, claimed.octets
            ));
        }
    }
    progress(total, total);
    report.records = total;
    Ok(report)
}

/// `data_end` if usable (for the cap checks), and how far to examine records.
fn committed_prefix(
    file: &JournalFile,
    file_len: u64,
    internal: &mut Vec<String>,
) -> Result<(Option<u64>, u64), JournalError> {
    let rec = RECORD_LEN as u64;
    let whole_file = file_len / rec * rec;
    let data_end = match file.data_end_attr() {
        Ok(Some(end)) => end,
        Ok(None) => {
            internal.push(format!(
                "no {} attribute: the journal has no committed length (was it copied without \
                 xattrs?); examining the {whole_file} bytes of whole records in the file",
                crate::attrs::DATA_END_XATTR
            ));
            return Ok((None, whole_file));
        }
        Err(e @ JournalError::BadAttribute { .. }) => {
            internal.push(e.to_string());
            return Ok((None, whole_file));
        }
        Err(e) => return Err(e),
    };
    let mut end = data_end;
    if !end.is_multiple_of(rec) {
        internal.push(format!(
            "data_end {data_end} is not a multiple of the 48-byte record size"
        ));
        end = end / rec * rec;
    }
    if end > file_len {
        internal.push(format!(
            "data_end {data_end} is past the end of the file ({file_len} bytes): records are \
             missing"
        ));
        end = whole_file;
    }
    Ok((Some(data_end), end))
}

fn check_caps(caps: &[RawCap], data_end: Option<u64>, internal: &mut Vec<String>) {
    for cap in caps {
        if Username::parse(&cap.owner).is_err() {
            internal.push(format!(
                "cap attribute {} does not name a valid username ({:?})",
                cap.attr, cap.owner
            ));
        }
        let value = match cap.value {
            Ok(v) => v,
            Err(len) => {
                internal.push(format!(
                    "cap attribute {} is {len} bytes long, expected an 8-byte offset",
                    cap.attr
                ));
                continue;
            }
        };
        if !value.is_multiple_of(RECORD_LEN as u64) {
            internal.push(format!(
                "cap {} = {value} is not a multiple of the 48-byte record size",
                cap.attr
            ));
        }
        if let Some(end) = data_end.filter(|&end| value > end) {
            internal.push(format!("cap {} = {value} is past data_end {end}", cap.attr));
        }
    }
}

/// Checks the caps file, if there is one: well formed, sorted, valid usernames, for this
/// journal, caps on record boundaries within `data_end`. Returns its running totals,
/// to be checked against the records like the xattrs'.
fn check_caps_file(
    journal: &Path,
    file: &JournalFile,
    data_end: Option<u64>,
    internal: &mut Vec<String>,
) -> Result<Vec<(String, Checkpoint)>, JournalError> {
    let path = crate::caps::caps_path(journal);
    let caps = match crate::caps::CapsFile::open(&path) {
        Ok(Some(caps)) => caps,
        Ok(None) => return Ok(Vec::new()),
        Err(e @ JournalError::BadCaps { .. }) => {
            internal.push(e.to_string());
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    if Some(caps.generation()) != file.caps_generation()? {
        internal.push(format!(
            "caps file {} belongs to another journal (an interrupted rebuild?)",
            path.display()
        ));
    }
    let entries = match caps.entries() {
        Ok(entries) => entries,
        Err(e) => {
            internal.push(e.to_string());
            return Ok(Vec::new());
        }
    };
    let mut totals = Vec::new();
    for (user, cap) in entries {
        if !cap.offset.is_multiple_of(RECORD_LEN as u64) {
            internal.push(format!(
                "cap of {user} in the caps file = {}, not a multiple of the 48-byte record size",
                cap.offset
            ));
        } else if let Some(end) = data_end.filter(|&end| cap.offset > end) {
            internal.push(format!(
                "cap of {user} in the caps file = {} is past data_end {end}",
                cap.offset
            ));
        } else {
            totals.push((
                format!("the running total of {user}'s cap"),
                Checkpoint {
                    offset: cap.offset,
                    octets: cap.octets,
                },
            ));
        }
    }
    Ok(totals)
}

/// The running totals present (beside `data_end` and each cap) whose shape is sound, to be
/// checked against the records; malformed ones are reported here.
fn running_totals(
    file: &JournalFile,
    caps: &[RawCap],
    data_end: Option<u64>,
    internal: &mut Vec<String>,
) -> Result<Vec<(String, Checkpoint)>, JournalError> {
    let names = std::iter::once(DATA_END_OCTETS_XATTR.to_string())
        .chain(caps.iter().map(|c| octets_xattr(&c.attr)));
    let mut totals = Vec::new();
    for attr in names {
        let Some(value) = file.raw_attr(&attr)? else {
            continue;
        };
        let Some(checkpoint) = Checkpoint::decode(&value) else {
            internal.push(format!(
                "running total {attr} is {} bytes long, expected 16 (offset and total)",
                value.len()
            ));
            continue;
        };
        if !checkpoint.offset.is_multiple_of(RECORD_LEN as u64) {
            internal.push(format!(
                "running total {attr} is for offset {}, not a multiple of the 48-byte record size",
                checkpoint.offset
            ));
        } else if let Some(end) = data_end.filter(|&end| checkpoint.offset > end) {
            internal.push(format!(
                "running total {attr} is for offset {}, past data_end {end}",
                checkpoint.offset
            ));
        } else {
            totals.push((attr, checkpoint));
        }
    }
    Ok(totals)
}

fn check_external(store: &MailStore, index: u64, record: &Record) -> Option<String> {
    let name = record.name;
    let meta = match store.meta(&name) {
        Ok(meta) => meta,
        Err(StoreError::NotFound { path, .. }) => {
            return Some(format!(
                "record {index}: message {name} is missing ({} does not exist)",
                path.display()
            ));
        }
        Err(e) => return Some(format!("record {index}: {e}")),
    };
    // Negative values never decode, so these conversions are exact.
    let (size, header_len) = (record.size as u64, record.header_len as u64);
    if meta.size != size {
        return Some(format!(
            "record {index}: message {name} is {} bytes in mail/ but the journal says {size}",
            meta.size
        ));
    }
    if meta.header_len != header_len {
        return Some(format!(
            "record {index}: message {name} has a {}-byte header in mail/ but the journal says \
             {header_len}",
            meta.header_len
        ));
    }
    None
}
