//! Pure: POSIX pax/ustar framing (POSIX.1-2008 `pax` format), deterministic.
//!
//! Each member is a 512-byte ustar header, its data, and zeros to the next 512-byte boundary; the
//! archive ends with two zero blocks. A member whose name is not ASCII or longer than 100 bytes,
//! whose size is 8 GiB or more, or whose mtime does not fit 11 octal digits gets a pax extended
//! header first (`path`, `size`, `mtime`; `hdrcharset=BINARY` for a name that is not UTF-8), and
//! a plain ASCII stand-in in the ustar fields. Owner and group are numeric 0 with empty names.

use bytes::Bytes;

use super::{Layout, Member, Piece, zeros};

const BLOCK: usize = 512;
/// The largest value 11 octal digits hold.
const OCTAL_11_MAX: u64 = 0o777_7777_7777;

/// The layout of a tar of `members` (in the order given; a directory before its contents).
pub fn layout(members: &[Member]) -> Layout {
    let mut pieces = Vec::with_capacity(members.len() * 3 + 1);
    for (index, member) in members.iter().enumerate() {
        pieces.push(Piece::Bytes(member_header(member)));
        if let Some(size) = member.size {
            pieces.push(Piece::Member { index, len: size });
            let pad = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
            pieces.push(Piece::Bytes(zeros(pad)));
        }
    }
    pieces.push(Piece::Bytes(zeros(2 * BLOCK)));
    Layout::new(pieces)
}

/// The header blocks of one member: the pax extended header if needed, then the ustar header.
pub fn member_header(member: &Member) -> Bytes {
    let mut name = member.path.clone();
    if member.size.is_none() {
        name.push(b'/');
    }
    let size = member.size.unwrap_or(0);
    let (secs, nanos) = member.mtime;
    let mut records = Vec::new();
    let plain_name = name.len() <= 100 && name.iter().all(|b| b.is_ascii() && *b != 0);
    if !plain_name {
        if std::str::from_utf8(&name).is_err() {
            records.extend(pax_record(b"hdrcharset", b"BINARY"));
        }
        records.extend(pax_record(b"path", &name));
    }
    if size > OCTAL_11_MAX {
        records.extend(pax_record(b"size", size.to_string().as_bytes()));
    }
    let mtime_fits = secs >= 0 && (secs as u64) <= OCTAL_11_MAX;
    if !mtime_fits {
        let value = if nanos == 0 {
            secs.to_string()
        } else if secs >= 0 {
            format!("{secs}.{nanos:09}")
        } else {
            // pax times are decimal seconds: -1.5 is 1.5 s before the epoch.
            let whole = secs + 1;
            let frac = 1_000_000_000 - nanos;
            if whole == 0 {
                format!("-0.{frac:09}")
            } else {
                format!("{whole}.{frac:09}")
            }
        };
        records.extend(pax_record(b"mtime", value.as_bytes()));
    }
    let mut out = Vec::with_capacity(BLOCK * 3);
    if !records.is_empty() {
        let pax_name = stand_in(b"PaxHeaders/", &name);
        out.extend(ustar(&pax_name, b'x', 0o644, records.len() as u64, 0));
        out.extend_from_slice(&records);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    let header_name = if plain_name {
        name.clone()
    } else {
        stand_in(b"", &name)
    };
    let typeflag = if member.size.is_some() { b'0' } else { b'5' };
    let header_size = if size > OCTAL_11_MAX { 0 } else { size };
    let header_mtime = if mtime_fits { secs as u64 } else { 0 };
    out.extend(ustar(
        &header_name,
        typeflag,
        member.mode & 0o7777,
        header_size,
        header_mtime,
    ));
    Bytes::from(out)
}

/// One pax record: `LEN KEY=VALUE\n`, where LEN counts the whole record, itself included.
pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} ").into_bytes();
    record.extend_from_slice(key);
    record.push(b'=');
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// An ASCII name of at most 100 bytes for the ustar field when the real name is in a pax record:
/// `prefix` + the name with non-ASCII bytes as `_`, keeping its end (the extension). A reader
/// that ignores pax sees only this, so it is made safe as a path too: cut at a segment boundary
/// (never mid-name), with no leading `/` and no `.` or `..` segment left in it.
fn stand_in(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let ascii: Vec<u8> = name
        .iter()
        .map(|&b| if b.is_ascii() && b != 0 { b } else { b'_' })
        .collect();
    let room = 100 - prefix.len();
    let mut tail = &ascii[ascii.len().saturating_sub(room)..];
    if tail.len() < ascii.len()
        && let Some(slash) = tail.iter().position(|&b| b == b'/')
    {
        tail = &tail[slash + 1..];
    }
    let safe: Vec<&[u8]> = tail
        .split(|&b| b == b'/')
        .filter(|s| !s.is_empty() && *s != b"." && *s != b"..")
        .collect();
    let mut joined = safe.join(&b'/');
    if joined.is_empty() {
        joined = b"_".to_vec();
    }
    joined.truncate(room);
    [prefix, &joined].concat()
}

/// A 512-byte ustar header block.
fn ustar(name: &[u8], typeflag: u8, mode: u32, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut block[100..108], u64::from(mode));
    octal(&mut block[108..116], 0); // uid
    octal(&mut block[116..124], 0); // gid
    octal(&mut block[124..136], size);
    octal(&mut block[136..148], mtime);
    block[156] = typeflag;
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces (POSIX ustar).
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(text.as_bytes());
    block
}

/// A zero-padded octal number filling `field` but its last byte, which is NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ustar_stand_in_is_a_safe_relative_path_for_readers_that_ignore_pax() {
        let long_f = [b"long/".as_slice(), &[b'f'; 99]].concat();
        let got = stand_in(b"", &long_f);
        assert!(got.len() <= 100 && !got.starts_with(b"/"), "{got:?}");
        let dots = [b"long/XXXX../".as_slice(), &[b'g'; 97]].concat();
        let got = stand_in(b"", &dots);
        assert!(
            !got.split(|&b| b == b'/')
                .any(|s| s == b".." || s.is_empty()),
            "{got:?}"
        );
        let ascii = stand_in(b"", "d/é.txt".as_bytes());
        assert_eq!(ascii, b"d/__.txt");
    }

    fn member(path: &[u8], size: Option<u64>) -> Member {
        Member {
            path: path.to_vec(),
            size,
            mode: 0o644,
            mtime: (1_700_000_000, 5),
            crc32: 0,
        }
    }

    fn checksum_ok(block: &[u8]) -> bool {
        let mut copy = block.to_vec();
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        let stored = std::str::from_utf8(&block[148..154]).unwrap();
        u32::from_str_radix(stored, 8).unwrap() == sum
    }

    #[test]
    fn a_plain_member_is_one_ustar_block_with_a_valid_checksum() {
        let header = member_header(&member(b"dir/file.txt", Some(1000)));
        assert_eq!(header.len(), 512);
        assert!(checksum_ok(&header));
        assert_eq!(&header[..12], b"dir/file.txt");
        assert_eq!(&header[124..136], b"00000001750\0");
        assert_eq!(&header[257..265], b"ustar\x0000");
        assert_eq!(header[156], b'0');
        let dir = member_header(&member(b"dir", None));
        assert_eq!(&dir[..4], b"dir/");
        assert_eq!(dir[156], b'5');
    }

    #[test]
    fn long_non_ascii_and_huge_members_get_pax_records() {
        let long = vec![b'n'; 200];
        let header = member_header(&member(&long, Some(1)));
        assert_eq!(header.len(), 3 * 512);
        assert_eq!(header[156], b'x');
        assert!(checksum_ok(&header[..512]) && checksum_ok(&header[1024..]));
        let record = pax_record(b"path", &long);
        assert_eq!(&header[512..512 + record.len()], &record[..]);
        let utf8 = member_header(&member("日本.txt".as_bytes(), Some(1)));
        assert!(utf8.windows(4).any(|w| w == b"path"));
        let binary = member_header(&member(b"\xff.bin", Some(1)));
        assert!(binary.windows(17).any(|w| w == b"hdrcharset=BINARY"));
        let huge = member_header(&member(b"big", Some(9 << 30)));
        assert!(huge.windows(15).any(|w| w == b"size=9663676416"));
        assert_eq!(&huge[512 + 512 + 124..512 + 512 + 136], b"00000000000\0");
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for value_len in [0, 1, 5, 6, 7, 90, 95, 96, 97, 990, 995, 996, 997] {
            let record = pax_record(b"path", &vec![b'x'; value_len]);
            let (len, _) = std::str::from_utf8(&record)
                .unwrap()
                .split_once(' ')
                .unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), record.len(), "{value_len}");
        }
        assert_eq!(pax_record(b"mtime", b"-1"), b"12 mtime=-1\n");
    }

    #[test]
    fn data_is_padded_to_blocks_and_the_archive_ends_with_two_zero_blocks() {
        let layout = layout(&[
            member(b"a", Some(1)),
            member(b"b", Some(512)),
            member(b"c", None),
        ]);
        assert_eq!(layout.len(), 512 + 512 + 512 + 512 + 512 + 1024);
        assert_eq!(layout.len() % 512, 0);
    }
}
