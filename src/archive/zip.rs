//! Pure: stored (uncompressed) zip framing (PKWARE APPNOTE 6.3), deterministic, with ZIP64
//! (APPNOTE 4.5.3) wherever a size, an offset or the count needs it.
//!
//! Each member is a local file header (CRC-32 and sizes in it: no data descriptor, so the length
//! is known up front), its data; then the central directory, and the end records. Names that are
//! valid UTF-8 carry the UTF-8 flag (bit 11); other names are their bytes. Times are MS-DOS
//! times in UTC (two-second resolution, from 1980); modes go in the external attributes with
//! "made by" Unix.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Layout, Member, Piece};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// Version 4.5: ZIP64. Version 2.0: directories and plain stored files.
const VERSION_ZIP64: u16 = 45;
const VERSION_PLAIN: u16 = 20;
/// Made by: Unix (3), spec version 4.5.
const MADE_BY: u16 = (3 << 8) | 45;
const FLAG_UTF8: u16 = 1 << 11;
const LIMIT_32: u64 = 0xFFFF_FFFF;
const LIMIT_16: u64 = 0xFFFF;

/// The layout of a zip of `members`, in the order given.
pub fn layout(members: &[Member]) -> Layout {
    let mut pieces = Vec::with_capacity(members.len() * 2 + 1);
    let mut central = BytesMut::new();
    let mut offset = 0u64;
    for (index, member) in members.iter().enumerate() {
        let local = local_header(member);
        let header_len = local.len() as u64;
        pieces.push(Piece::Bytes(local));
        let size = member.size.unwrap_or(0);
        if member.size.is_some() {
            pieces.push(Piece::Member { index, len: size });
        }
        central.put_slice(&central_header(member, offset));
        offset += header_len + size;
    }
    let central_len = central.len() as u64;
    pieces.push(Piece::Bytes(central.freeze()));
    pieces.push(Piece::Bytes(end_records(
        members.len() as u64,
        central_len,
        offset,
    )));
    Layout::new(pieces)
}

fn name_of(member: &Member) -> Vec<u8> {
    let mut name = member.path.clone();
    if member.size.is_none() {
        name.push(b'/');
    }
    name
}

fn flags(name: &[u8]) -> u16 {
    let utf8_beyond_ascii = !name.is_ascii() && std::str::from_utf8(name).is_ok();
    if utf8_beyond_ascii { FLAG_UTF8 } else { 0 }
}

/// MS-DOS (time, date) of an mtime, in UTC; before 1980 → 1980-01-01 00:00, after 2107 → the
/// last representable moment.
pub fn dos_time(secs: i64) -> (u16, u16) {
    const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let secs = secs.clamp(MIN, MAX);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let time = ((rem / 3600) << 11) | (((rem % 3600) / 60) << 5) | ((rem % 60) / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn local_header(member: &Member) -> Bytes {
    let name = name_of(member);
    let size = member.size.unwrap_or(0);
    let zip64 = size >= LIMIT_32;
    let (time, date) = dos_time(member.mtime.0);
    let mut out = BytesMut::with_capacity(30 + name.len() + 20);
    out.put_u32_le(LOCAL_SIG);
    out.put_u16_le(if zip64 { VERSION_ZIP64 } else { VERSION_PLAIN });
    out.put_u16_le(flags(&name));
    out.put_u16_le(0); // stored
    out.put_u16_le(time);
    out.put_u16_le(date);
    out.put_u32_le(member.crc32);
    let small = if zip64 { LIMIT_32 as u32 } else { size as u32 };
    out.put_u32_le(small); // compressed size
    out.put_u32_le(small); // uncompressed size
    out.put_u16_le(name.len() as u16);
    out.put_u16_le(if zip64 { 20 } else { 0 });
    out.put_slice(&name);
    if zip64 {
        out.put_u16_le(ZIP64_EXTRA);
        out.put_u16_le(16);
        out.put_u64_le(size); // uncompressed
        out.put_u64_le(size); // compressed
    }
    out.freeze()
}

fn central_header(member: &Member, offset: u64) -> Vec<u8> {
    let name = name_of(member);
    let size = member.size.unwrap_or(0);
    let big_size = size >= LIMIT_32;
    let big_offset = offset >= LIMIT_32;
    let mut extra = Vec::new();
    if big_size || big_offset {
        let mut fields = Vec::new();
        if big_size {
            fields.extend_from_slice(&size.to_le_bytes()); // uncompressed
            fields.extend_from_slice(&size.to_le_bytes()); // compressed
        }
        if big_offset {
            fields.extend_from_slice(&offset.to_le_bytes());
        }
        extra.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
        extra.extend_from_slice(&(fields.len() as u16).to_le_bytes());
        extra.extend_from_slice(&fields);
    }
    let (time, date) = dos_time(member.mtime.0);
    let is_dir = member.size.is_none();
    let unix_mode = member.mode & 0o7777 | if is_dir { 0o040_000 } else { 0o100_000 };
    let external = (unix_mode << 16) | if is_dir { 0x10 } else { 0 };
    let mut out = Vec::with_capacity(46 + name.len() + extra.len());
    out.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
    out.extend_from_slice(&MADE_BY.to_le_bytes());
    let needed = if big_size || big_offset {
        VERSION_ZIP64
    } else {
        VERSION_PLAIN
    };
    out.extend_from_slice(&needed.to_le_bytes());
    out.extend_from_slice(&flags(&name).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // stored
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&date.to_le_bytes());
    out.extend_from_slice(&member.crc32.to_le_bytes());
    let small = if big_size {
        LIMIT_32 as u32
    } else {
        size as u32
    };
    out.extend_from_slice(&small.to_le_bytes());
    out.extend_from_slice(&small.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment
    out.extend_from_slice(&0u16.to_le_bytes()); // disk
    out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    out.extend_from_slice(&external.to_le_bytes());
    let small_offset = if big_offset {
        LIMIT_32 as u32
    } else {
        offset as u32
    };
    out.extend_from_slice(&small_offset.to_le_bytes());
    out.extend_from_slice(&name);
    out.extend_from_slice(&extra);
    out
}

/// The end records: ZIP64 end record and locator when a count, size or offset needs them, then
/// the classic end record (with 0xFFFF… in the fields that did not fit).
fn end_records(count: u64, central_len: u64, central_offset: u64) -> Bytes {
    let zip64 = count >= LIMIT_16 || central_len >= LIMIT_32 || central_offset >= LIMIT_32;
    let mut out = BytesMut::with_capacity(22 + 56 + 20);
    if zip64 {
        let record_offset = central_offset + central_len;
        out.put_u32_le(ZIP64_END_SIG);
        out.put_u64_le(44); // size of the rest of this record
        out.put_u16_le(MADE_BY);
        out.put_u16_le(VERSION_ZIP64);
        out.put_u32_le(0); // this disk
        out.put_u32_le(0); // disk with the central directory
        out.put_u64_le(count);
        out.put_u64_le(count);
        out.put_u64_le(central_len);
        out.put_u64_le(central_offset);
        out.put_u32_le(ZIP64_LOCATOR_SIG);
        out.put_u32_le(0);
        out.put_u64_le(record_offset);
        out.put_u32_le(1); // total disks
    }
    out.put_u32_le(END_SIG);
    out.put_u16_le(0);
    out.put_u16_le(0);
    let small_count = count.min(LIMIT_16) as u16;
    out.put_u16_le(small_count);
    out.put_u16_le(small_count);
    out.put_u32_le(central_len.min(LIMIT_32) as u32);
    out.put_u32_le(central_offset.min(LIMIT_32) as u32);
    out.put_u16_le(0); // comment
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(path: &[u8], size: Option<u64>) -> Member {
        Member {
            path: path.to_vec(),
            size,
            mode: 0o644,
            mtime: (1_700_000_000, 0),
            crc32: 0x1234_5678,
        }
    }

    #[test]
    fn dos_times_are_utc_and_clamped() {
        // 2023-11-14T22:13:20Z
        let (time, date) = dos_time(1_700_000_000);
        assert_eq!(
            (time >> 11, (time >> 5) & 63, (time & 31) * 2),
            (22, 13, 20)
        );
        assert_eq!((date >> 9, (date >> 5) & 15, date & 31), (43, 11, 14));
        assert_eq!(dos_time(0), (0, (1 << 5) | 1), "before 1980: 1980-01-01");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn small_members_need_no_zip64_and_the_length_adds_up() {
        let members = [member(b"d", None), member(b"d/a.txt", Some(10))];
        let layout = layout(&members);
        let local = 30 + 2 + 30 + 7 + 10;
        let central = 46 + 2 + 46 + 7;
        assert_eq!(layout.len(), (local + central + 22) as u64);
        let header = local_header(&members[1]);
        assert_eq!(&header[..4], &LOCAL_SIG.to_le_bytes());
        assert_eq!(
            &header[14..18],
            &0x1234_5678u32.to_le_bytes(),
            "CRC in the local header"
        );
        assert_eq!(&header[18..22], &10u32.to_le_bytes());
    }

    #[test]
    fn a_member_over_4_gib_gets_zip64_fields() {
        let size = 5u64 << 30;
        let header = local_header(&member(b"big", Some(size)));
        assert_eq!(&header[18..26], &[0xFF; 8]);
        assert_eq!(&header[33..35], &ZIP64_EXTRA.to_le_bytes());
        assert_eq!(&header[37..45], &size.to_le_bytes());
        let central = central_header(&member(b"big", Some(size)), 0);
        assert_eq!(&central[20..28], &[0xFF; 8]);
        // After it, offsets need ZIP64 too, and so do the end records.
        let after = central_header(&member(b"x", Some(1)), 30 + 3 + 20 + size);
        assert_eq!(&after[42..46], &[0xFF; 4]);
        let end = end_records(2, 100, size + 100);
        assert_eq!(&end[..4], &ZIP64_END_SIG.to_le_bytes());
        assert_eq!(end.len(), 56 + 20 + 22);
    }

    #[test]
    fn utf8_names_carry_the_flag_and_others_do_not() {
        assert_eq!(flags("日本.txt".as_bytes()), FLAG_UTF8);
        assert_eq!(flags(b"plain.txt"), 0);
        assert_eq!(flags(b"\xff.bin"), 0);
    }
}
