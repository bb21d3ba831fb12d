//! The on-disk framing of the journal: one checksummed frame per record.
//!
//! `MAGIC (4) | payload length (u32 BE) | CRC-32 of the payload (u32 BE) | payload`.
//! Reading never fails as a whole: a frame whose header or checksum does not hold (a
//! torn write at the tail, bytes scribbled over in the middle) is skipped by searching
//! for the next `MAGIC` from the byte after its start, and each skipped stretch counts
//! as one corrupt region. What lies after it is still read.

use bytes::{BufMut, Bytes, BytesMut};

/// "MGJ1": marks the start of a frame, so a reader can find the next one after damage.
pub const MAGIC: [u8; 4] = *b"MGJ1";
const HEADER: usize = 12;
/// A frame longer than this is damage, not data (a message is at most 256 MiB on the
/// wire; sessions and subscriptions are far smaller).
pub const MAX_FRAME: usize = 300 * 1024 * 1024;

/// Appends one frame holding `payload` to `out`.
pub fn write_frame(payload: &[u8], out: &mut BytesMut) {
    out.reserve(HEADER + payload.len());
    out.put_slice(&MAGIC);
    out.put_u32(payload.len() as u32);
    out.put_u32(crc32fast::hash(payload));
    out.put_slice(payload);
}

/// What a scan of a journal found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The payloads of intact frames, in file order.
    pub payloads: Vec<Bytes>,
    /// Damaged stretches skipped (a torn tail counts as one).
    pub corrupt: u64,
}

/// Reads every intact frame of `data`, skipping damage (see the module comment).
pub fn scan(data: Bytes) -> Scan {
    let mut scan = Scan::default();
    let mut at = 0;
    let mut in_damage = false;
    while at < data.len() {
        match frame_at(&data, at) {
            Some((payload, next)) => {
                scan.payloads.push(payload);
                at = next;
                in_damage = false;
            }
            None => {
                if !in_damage {
                    scan.corrupt += 1;
                    in_damage = true;
                }
                at = next_magic(&data, at + 1);
            }
        }
    }
    scan
}

/// The payload of a well-formed frame starting at `at`, and where the next one starts.
fn frame_at(data: &Bytes, at: usize) -> Option<(Bytes, usize)> {
    let header = data.get(at..at + HEADER)?;
    if header[..4] != MAGIC {
        return None;
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let crc = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    if len > MAX_FRAME {
        return None;
    }
    let start = at + HEADER;
    let payload = data.get(start..start + len)?;
    (crc32fast::hash(payload) == crc).then(|| (data.slice(start..start + len), start + len))
}

fn next_magic(data: &[u8], from: usize) -> usize {
    data.get(from..)
        .and_then(|rest| rest.windows(MAGIC.len()).position(|w| w == MAGIC))
        .map_or(data.len(), |i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(payloads: &[&[u8]]) -> BytesMut {
        let mut out = BytesMut::new();
        for p in payloads {
            write_frame(p, &mut out);
        }
        out
    }

    #[test]
    fn intact_frames_are_read_back_in_order() {
        let data = journal(&[b"one", b"", b"three"]).freeze();
        let scan = scan(data);
        assert_eq!(scan.corrupt, 0);
        assert_eq!(scan.payloads, vec![&b"one"[..], &b""[..], &b"three"[..]]);
    }

    #[test]
    fn a_torn_tail_is_one_corrupt_region_and_keeps_the_rest() {
        let mut data = journal(&[b"one", b"two", b"three"]);
        data.truncate(data.len() - 2);
        let scan = scan(data.freeze());
        assert_eq!(scan.payloads, vec![&b"one"[..], &b"two"[..]]);
        assert_eq!(scan.corrupt, 1);
    }

    #[test]
    fn scribbled_frames_are_skipped_and_later_ones_kept() {
        let mut data = journal(&[b"one", b"two-two", b"three", b"four"]);
        // Scribble over the payload of "two-two" (checksum fails) and the magic of "three".
        let two = 12 + 3 + 12;
        data[two] ^= 0xff;
        let three = two + 7;
        data[three] = b'x';
        let scan = scan(data.freeze());
        assert_eq!(scan.payloads, vec![&b"one"[..], &b"four"[..]]);
        assert_eq!(scan.corrupt, 1);
    }

    #[test]
    fn garbage_alone_reads_as_nothing_without_failing() {
        let scan = scan(Bytes::from_static(
            b"not a journal at all MGJ1\xff\xff\xff\xff",
        ));
        assert!(scan.payloads.is_empty());
        assert_eq!(scan.corrupt, 1);
    }
}
