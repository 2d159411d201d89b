//! Names and values of the xattrs the journal keeps beside its records (SPEC §5), with no I/O.
//!
//! `user.data_end` holds the committed length and `user.<username>_limit` a user's cap, both as
//! 8-byte little-endian byte offsets. Keeping them in xattrs lets one `fsetxattr` commit an
//! append atomically, and lets a reader learn its prefix without reading the records.
//!
//! Beside each of them, a running total of message sizes (`user.data_end_octets`,
//! `user.<username>_limit_octets`) lets pop answer STAT without walking the records, so login
//! cost stays independent of the journal's size. A total is a [`Checkpoint`] that names the
//! offset it is valid for: it is written after the offset it describes moved, so a crash in
//! between leaves an older, still true checkpoint, never a wrong one.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::ids::Username;

/// The xattr holding the committed journal length in bytes.
pub const DATA_END_XATTR: &str = "user.data_end";

const CAP_PREFIX: &str = "user.";
const CAP_SUFFIX: &str = "_limit";

/// The xattr holding `user`'s cap.
///
/// `Username` admits only `[a-z0-9._-]`, so the name cannot leave the `user.` namespace or
/// collide with `user.data_end`.
pub fn cap_xattr(user: &Username) -> String {
    format!("{CAP_PREFIX}{user}{CAP_SUFFIX}")
}

/// The text between `user.` and `_limit` if `attr` has the shape of a cap xattr.
///
/// The result is not validated: an imported or tampered journal may carry caps whose names are
/// not valid usernames, and verify wants to report them rather than skip them silently.
pub fn cap_owner(attr: &OsStr) -> Option<String> {
    let owner = attr
        .as_bytes()
        .strip_prefix(CAP_PREFIX.as_bytes())?
        .strip_suffix(CAP_SUFFIX.as_bytes())?;
    Some(owner.escape_ascii().to_string())
}

/// The running total at `data_end`.
pub const DATA_END_OCTETS_XATTR: &str = "user.data_end_octets";

/// The running total paired with a cap xattr: `user.<username>_limit` ->
/// `user.<username>_limit_octets`. Not a cap itself (it does not end in `_limit`), and distinct
/// from [`DATA_END_OCTETS_XATTR`] for every username.
pub fn octets_xattr(cap_attr: &str) -> String {
    format!("{cap_attr}_octets")
}

/// "The records below `offset` have sizes summing to `octets`": where a reader can start
/// adding up its maildrop size instead of starting from the first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// A journal offset on a record boundary.
    pub offset: u64,
    /// Sum of the `size` of every record below `offset`.
    pub octets: u64,
}

impl Checkpoint {
    /// The trivially true checkpoint at the start of the journal.
    pub const ORIGIN: Checkpoint = Checkpoint {
        offset: 0,
        octets: 0,
    };

    /// 16 bytes: offset then total, little endian.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..].copy_from_slice(&self.octets.to_le_bytes());
        out
    }

    /// Reads what [`Checkpoint::encode`] wrote; `None` for any other length.
    pub fn decode(value: &[u8]) -> Option<Checkpoint> {
        let value = <&[u8; 16]>::try_from(value).ok()?;
        let (offset, octets) = value.split_at(8);
        Some(Checkpoint {
            offset: decode_offset(offset)?,
            octets: decode_offset(octets)?,
        })
    }
}

/// Where to start summing sizes for a prefix of `prefix` bytes: the furthest candidate at or
/// before the prefix on a record boundary, else the origin. A checkpoint past the prefix is of
/// no use because a reader maps only its own prefix.
pub fn best_checkpoint(
    prefix: u64,
    candidates: impl IntoIterator<Item = Checkpoint>,
) -> Checkpoint {
    candidates
        .into_iter()
        .filter(|c| c.offset <= prefix && c.offset.is_multiple_of(crate::record::RECORD_LEN as u64))
        .fold(Checkpoint::ORIGIN, |best, c| {
            if c.offset > best.offset { c } else { best }
        })
}

/// Decodes an 8-byte little-endian offset; `None` for any other length.
pub fn decode_offset(value: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(value).ok().map(u64::from_le_bytes)
}

/// Encodes an offset the way [`decode_offset`] reads it.
pub fn encode_offset(value: u64) -> [u8; 8] {
    value.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_xattr_round_trips_through_cap_owner() {
        let user = Username::parse("a.b_limit-c").unwrap();
        let attr = cap_xattr(&user);
        assert_eq!(attr, "user.a.b_limit-c_limit");
        assert_eq!(cap_owner(OsStr::new(&attr)).as_deref(), Some("a.b_limit-c"));
    }

    #[test]
    fn other_attributes_are_not_caps() {
        assert_eq!(cap_owner(OsStr::new(DATA_END_XATTR)), None);
        assert_eq!(cap_owner(OsStr::new("user.header_len")), None);
        assert_eq!(cap_owner(OsStr::new("trusted.x_limit")), None);
    }

    #[test]
    fn invalid_owner_is_returned_escaped_for_reporting() {
        let attr = OsStr::from_bytes(b"user.Bad\xff_limit");
        assert_eq!(cap_owner(attr).as_deref(), Some("Bad\\xff"));
    }

    #[test]
    fn octets_attributes_are_neither_caps_nor_each_other() {
        let cap = cap_xattr(&Username::parse("data").unwrap());
        assert_eq!(octets_xattr(&cap), "user.data_limit_octets");
        assert_ne!(octets_xattr(&cap), DATA_END_OCTETS_XATTR);
        assert_eq!(cap_owner(OsStr::new(&octets_xattr(&cap))), None);
        assert_eq!(cap_owner(OsStr::new(DATA_END_OCTETS_XATTR)), None);
    }

    #[test]
    fn checkpoint_round_trips_through_16_bytes() {
        let c = Checkpoint {
            offset: 96,
            octets: 12_345,
        };
        assert_eq!(Checkpoint::decode(&c.encode()), Some(c));
        assert_eq!(Checkpoint::decode(&c.encode()[..8]), None);
    }

    #[test]
    fn best_checkpoint_is_the_furthest_usable_one() {
        let at = |offset, octets| Checkpoint { offset, octets };
        let found = best_checkpoint(144, [at(48, 1), at(96, 2), at(192, 3), at(100, 9)]);
        assert_eq!(found, at(96, 2));
        assert_eq!(best_checkpoint(144, [at(144, 5)]), at(144, 5));
        assert_eq!(best_checkpoint(40, [at(48, 1)]), Checkpoint::ORIGIN);
        assert_eq!(best_checkpoint(0, []), Checkpoint::ORIGIN);
    }

    #[test]
    fn offsets_are_exactly_eight_bytes_little_endian() {
        assert_eq!(decode_offset(&encode_offset(0x0102)), Some(0x0102));
        assert_eq!(encode_offset(1)[0], 1);
        assert_eq!(decode_offset(&[1, 2, 3]), None);
        assert_eq!(decode_offset(&[0; 9]), None);
    }
}
