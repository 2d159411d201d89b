//! The 48-byte journal record (SPEC §5): encoding, decoding and validation, with no I/O.
//!
//! Layout, little endian: `i64 size`, `i64 header_len`, `u8 flags`, `[u8; 31] name` where the
//! name is the message id followed by a NUL. This is the record of the system coursemail
//! succeeds, so its journals can be imported byte for byte.

use crate::ids::{ID_LEN, MessageId};
use crate::store::MessageMeta;

/// Length of one encoded record in bytes; journal offsets (`data_end`, caps) are multiples of it.
pub const RECORD_LEN: usize = 48;

const SIZE_AT: usize = 0;
const HEADER_LEN_AT: usize = 8;
const FLAGS_AT: usize = 16;
const NAME_AT: usize = 17;
const NAME_LEN: usize = RECORD_LEN - NAME_AT;

/// One released message: its stored size, header length and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Size of the stored file in bytes (POP3 wire form), as LIST reports it.
    pub size: i64,
    /// Bytes up to and including the blank line ending the header, so TOP need not parse.
    pub header_len: i64,
    /// Flags carried over from the predecessor format; coursemail writes 0 and never interprets
    /// them, but keeps them so imported journals round-trip.
    pub flags: u8,
    /// The message id, which is also the file name under `mail/`.
    pub name: MessageId,
}

/// Why 48 bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The input is not exactly one record long.
    #[error(
        "record is {0} bytes long, expected exactly 48 (the journal is truncated or misaligned)"
    )]
    WrongLength(usize),
    /// The 31-byte name field has no NUL terminator.
    #[error("record name {0:?} is not NUL-terminated")]
    NameNotTerminated(String),
    /// Bytes after the terminating NUL must be zero, or the record was not written by a
    /// well-behaved writer (or is not a record at all).
    #[error("record name {0:?} has non-zero bytes after its terminating NUL")]
    GarbageAfterName(String),
    /// The name is not a message id.
    #[error("record name {name:?} is not a message id: {reason}")]
    BadName {
        /// The name, escaped for display.
        name: String,
        /// Why it was rejected.
        reason: crate::ids::IdError,
    },
    /// The message size is negative.
    #[error("record for {name} has negative size {size}")]
    NegativeSize {
        /// The message id.
        name: MessageId,
        /// The size found.
        size: i64,
    },
    /// The header length is negative.
    #[error("record for {name} has negative header length {header_len}")]
    NegativeHeaderLen {
        /// The message id.
        name: MessageId,
        /// The header length found.
        header_len: i64,
    },
    /// The header cannot be longer than the message.
    #[error("record for {name} has header length {header_len} larger than its size {size}")]
    HeaderLongerThanMessage {
        /// The message id.
        name: MessageId,
        /// The header length found.
        header_len: i64,
        /// The size found.
        size: i64,
    },
}

impl Record {
    /// The record releasing stored message `name`, from its metadata in `mail/`; flags 0.
    pub fn new(name: MessageId, meta: MessageMeta) -> Record {
        Record {
            size: i64::try_from(meta.size).unwrap_or(i64::MAX),
            header_len: i64::try_from(meta.header_len).unwrap_or(i64::MAX),
            flags: 0,
            name,
        }
    }

    /// Checks the numeric fields; the name is valid by construction.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.size < 0 {
            return Err(RecordError::NegativeSize {
                name: self.name,
                size: self.size,
            });
        }
        if self.header_len < 0 {
            return Err(RecordError::NegativeHeaderLen {
                name: self.name,
                header_len: self.header_len,
            });
        }
        if self.header_len > self.size {
            return Err(RecordError::HeaderLongerThanMessage {
                name: self.name,
                header_len: self.header_len,
                size: self.size,
            });
        }
        Ok(())
    }

    /// The size in bytes as an unsigned count, for running totals (0 if invalidly negative).
    pub fn octets(&self) -> u64 {
        u64::try_from(self.size).unwrap_or(0)
    }

    /// The 48 bytes of this record.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[SIZE_AT..HEADER_LEN_AT].copy_from_slice(&self.size.to_le_bytes());
        out[HEADER_LEN_AT..FLAGS_AT].copy_from_slice(&self.header_len.to_le_bytes());
        out[FLAGS_AT] = self.flags;
        // The remaining name byte stays 0: it is the NUL terminator.
        out[NAME_AT..NAME_AT + ID_LEN].copy_from_slice(self.name.as_str().as_bytes());
        out
    }

    /// Decodes and validates exactly one record.
    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let bytes: &[u8; RECORD_LEN] = bytes
            .try_into()
            .map_err(|_| RecordError::WrongLength(bytes.len()))?;
        let name_field = &bytes[NAME_AT..];
        debug_assert_eq!(name_field.len(), NAME_LEN);
        let escaped = |b: &[u8]| b.escape_ascii().to_string();
        let nul = name_field
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| RecordError::NameNotTerminated(escaped(name_field)))?;
        let (name, rest) = name_field.split_at(nul);
        if rest.iter().any(|&b| b != 0) {
            return Err(RecordError::GarbageAfterName(escaped(name_field)));
        }
        // Non-UTF-8 bytes cannot be hex digits either; the lossy text is only for the message.
        let text = String::from_utf8_lossy(name);
        let name = MessageId::parse(&text).map_err(|reason| RecordError::BadName {
            name: escaped(name),
            reason,
        })?;
        let record = Record {
            size: i64::from_le_bytes(le8(bytes, SIZE_AT)),
            header_len: i64::from_le_bytes(le8(bytes, HEADER_LEN_AT)),
            flags: bytes[FLAGS_AT],
            name,
        };
        record.validate()?;
        Ok(record)
    }
}

fn le8(bytes: &[u8; RECORD_LEN], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> MessageId {
        MessageId::parse(s).unwrap()
    }

    fn sample() -> Record {
        Record {
            size: 1234,
            header_len: 321,
            flags: 7,
            name: id("0123456789abcdef01234567890001"),
        }
    }

    #[test]
    fn record_round_trips_through_its_48_bytes() {
        let r = sample();
        let bytes = r.encode();
        assert_eq!(bytes.len(), RECORD_LEN);
        assert_eq!(&bytes[0..8], &1234i64.to_le_bytes());
        assert_eq!(&bytes[8..16], &321i64.to_le_bytes());
        assert_eq!(bytes[16], 7);
        assert_eq!(&bytes[17..47], r.name.as_str().as_bytes());
        assert_eq!(bytes[47], 0);
        assert_eq!(Record::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn short_and_long_input_is_a_length_error() {
        let bytes = sample().encode();
        assert_eq!(
            Record::decode(&bytes[..47]),
            Err(RecordError::WrongLength(47))
        );
        assert_eq!(Record::decode(&[]), Err(RecordError::WrongLength(0)));
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(Record::decode(&long), Err(RecordError::WrongLength(49)));
        assert!(
            RecordError::WrongLength(47)
                .to_string()
                .contains("expected exactly 48")
        );
    }

    #[test]
    fn name_without_nul_is_rejected_and_shown_escaped() {
        let mut bytes = sample().encode();
        bytes[47] = b'\n';
        let err = Record::decode(&bytes).unwrap_err();
        assert!(matches!(err, RecordError::NameNotTerminated(ref n) if n.ends_with("\\n")));
        assert!(err.to_string().contains("not NUL-terminated"));
    }

    #[test]
    fn name_that_is_not_a_message_id_is_rejected_escaped() {
        let mut bytes = [0u8; RECORD_LEN];
        bytes[17..22].copy_from_slice(b"../\x01x");
        let err = Record::decode(&bytes).unwrap_err();
        match &err {
            RecordError::BadName { name, .. } => assert_eq!(name, "../\\x01x"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("not a message id"));

        let mut upper = sample().encode();
        upper[17] = b'A';
        assert!(matches!(
            Record::decode(&upper),
            Err(RecordError::BadName { .. })
        ));

        let mut submission = sample().encode();
        submission[43..47].copy_from_slice(b"0000");
        assert!(matches!(
            Record::decode(&submission),
            Err(RecordError::BadName {
                reason: crate::ids::IdError::NotMessage(_),
                ..
            })
        ));
    }

    #[test]
    fn empty_name_is_rejected() {
        let err = Record::decode(&[0u8; RECORD_LEN]).unwrap_err();
        assert!(matches!(err, RecordError::BadName { ref name, .. } if name.is_empty()));
    }

    #[test]
    fn bytes_after_the_nul_must_be_zero() {
        let mut bytes = sample().encode();
        bytes[30] = 0;
        bytes[40] = b'x';
        assert!(matches!(
            Record::decode(&bytes),
            Err(RecordError::GarbageAfterName(_))
        ));
    }

    #[test]
    fn negative_size_and_oversized_header_are_rejected() {
        let mut r = sample();
        r.size = -1;
        r.header_len = 0;
        assert!(matches!(
            Record::decode(&r.encode()),
            Err(RecordError::NegativeSize { size: -1, .. })
        ));
        let mut r = sample();
        r.header_len = -5;
        assert!(matches!(
            Record::decode(&r.encode()),
            Err(RecordError::NegativeHeaderLen { header_len: -5, .. })
        ));
        let mut r = sample();
        r.header_len = r.size + 1;
        let err = Record::decode(&r.encode()).unwrap_err();
        assert!(matches!(err, RecordError::HeaderLongerThanMessage { .. }));
        assert!(err.to_string().contains("larger than its size"));
    }

    #[test]
    fn new_clamps_sizes_that_do_not_fit_an_i64() {
        let meta = MessageMeta {
            size: u64::MAX,
            header_len: 10,
        };
        let r = Record::new(sample().name, meta);
        assert_eq!(r.size, i64::MAX);
        assert_eq!(r.flags, 0);
        assert!(r.validate().is_ok());
    }
}
