//! Inflating a gzip body as it arrives, a bounded piece at a time.
//!
//! The exporter asks for gzip (`Accept-Encoding: gzip`) and inflates it
//! itself, rather than through the HTTP stack, so that its output goes
//! straight into the buffers the session parser reads, and the size cap
//! counts inflated bytes as they come, a buffer at a time. The inflater is
//! flate2's zlib-rs backend (pure Rust), the fastest streaming one measured
//! (docs/performance.md).

use flate2::{Decompress, FlushDecompress, Status};

/// A gzip stream being inflated: one member after another, as RFC 1952
/// allows (and curl reads).
pub(crate) struct Inflater {
    decompress: Decompress,
    /// The current member has ended (its trailer checked).
    member_ended: bool,
}

/// Why a gzip body cannot be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InflateError {
    /// Not gzip, or damaged (a bad header, block or checksum).
    #[error("corrupt gzip body: {0}")]
    Corrupt(String),
    /// The body ended inside the gzip stream.
    #[error("the gzip body ends early")]
    Truncated,
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Inflater {
            decompress: Decompress::new_gzip(15),
            member_ended: false,
        }
    }

    /// Inflates `input` into `out`, up to its capacity (it never grows, so
    /// it must have some):
    /// whenever `out` is full, `sink` takes its bytes, leaving it empty
    /// (with room again) for the rest. What is left in `out` when `input`
    /// is used up waits for the next call, or for the caller to take it
    /// once the body has ended, or fails: it was inflated before the
    /// error, and is as much part of the body as what `sink` took. Stops
    /// at the first error `sink` returns.
    /// Inflating straight into the buffers handed on saves copying every
    /// byte once more, and filling each before handing it on keeps the
    /// handovers few.
    pub(crate) fn inflate<E>(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        mut sink: impl FnMut(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), Inflated<E>> {
        while !input.is_empty() {
            if out.len() == out.capacity() {
                hand_on(out, &mut sink)?;
            }
            if self.member_ended {
                // Another member follows.
                self.decompress = Decompress::new_gzip(15);
                self.member_ended = false;
            }
            let (before_in, before_out) = (self.decompress.total_in(), out.len());
            // On an error, `out` keeps what was inflated before it.
            let status = self
                .decompress
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|e| Inflated::Inflate(InflateError::Corrupt(e.to_string())))?;
            let read =
                usize::try_from(self.decompress.total_in() - before_in).unwrap_or(input.len());
            input = &input[read..];
            if status == Status::StreamEnd {
                self.member_ended = true;
            } else if read == 0 && out.len() == before_out {
                // No progress with input left and room for output: not a
                // gzip stream the inflater can go on with.
                return Err(Inflated::Inflate(InflateError::Corrupt(
                    "no progress".to_owned(),
                )));
            }
        }
        if out.len() == out.capacity() {
            hand_on(out, &mut sink)?;
        }
        Ok(())
    }

    /// The body has ended: it must have ended with a whole member.
    pub(crate) fn finish(&self) -> Result<(), InflateError> {
        if self.member_ended {
            Ok(())
        } else {
            Err(InflateError::Truncated)
        }
    }
}

/// Hands the full `out` to `sink`, which must leave room in it.
fn hand_on<E>(
    out: &mut Vec<u8>,
    sink: &mut impl FnMut(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), Inflated<E>> {
    sink(out).map_err(Inflated::Sink)?;
    if out.len() == out.capacity() {
        // Nothing would ever fit.
        return Err(Inflated::Inflate(InflateError::Corrupt(
            "no room for output".to_owned(),
        )));
    }
    Ok(())
}

/// What stopped [`Inflater::inflate`]: the inflater or the sink.
#[derive(Debug)]
pub(crate) enum Inflated<E> {
    /// The body cannot be inflated.
    Inflate(InflateError),
    /// The sink refused a piece.
    Sink(E),
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        encoder.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Inflates `body` fed in chunks of `chunk` bytes, into pieces of
    /// 1000 bytes, each full but the last.
    fn inflate_in_chunks(body: &[u8], chunk: usize) -> Result<Vec<u8>, InflateError> {
        let mut inflater = Inflater::new();
        let mut inflated = Vec::new();
        let mut piece = Vec::with_capacity(1000);
        for input in body.chunks(chunk) {
            inflater
                .inflate(input, &mut piece, |full| {
                    assert_eq!(full.len(), 1000);
                    inflated.extend_from_slice(full);
                    full.clear();
                    Ok::<(), ()>(())
                })
                .map_err(|e| match e {
                    Inflated::Inflate(e) => e,
                    Inflated::Sink(()) => unreachable!(),
                })?;
            assert_eq!(piece.capacity(), 1000);
        }
        inflater.finish()?;
        inflated.extend_from_slice(&piece);
        Ok(inflated)
    }

    #[test]
    fn inflates_in_any_chunks_and_several_members() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let body = gzip(&data);
        for chunk in [1, 7, 4096, body.len()] {
            assert_eq!(
                inflate_in_chunks(&body, chunk).as_deref(),
                Ok(&data[..]),
                "{chunk}"
            );
        }
        let two = [gzip(b"first "), gzip(b"second")].concat();
        assert_eq!(
            inflate_in_chunks(&two, 5).as_deref(),
            Ok(&b"first second"[..])
        );
    }

    #[test]
    fn a_buffer_without_room_is_an_error_not_a_loop() {
        let body = gzip(&vec![b'x'; 10_000]);
        let mut inflater = Inflater::new();
        let mut none = Vec::new();
        let taken = inflater.inflate(&body, &mut none, |_| Ok::<(), ()>(()));
        assert!(matches!(
            taken,
            Err(Inflated::Inflate(InflateError::Corrupt(_)))
        ));
        let mut kept = Vec::with_capacity(100);
        let taken = Inflater::new().inflate(&body, &mut kept, |_| Ok::<(), ()>(()));
        assert!(matches!(
            taken,
            Err(Inflated::Inflate(InflateError::Corrupt(_)))
        ));
    }

    #[test]
    fn refuses_damaged_and_truncated_streams() {
        let body = gzip(&vec![b'x'; 100_000]);
        assert_eq!(
            inflate_in_chunks(&body[..body.len() - 3], 1000),
            Err(InflateError::Truncated)
        );
        let mut bad_crc = body.clone();
        let at = bad_crc.len() - 6;
        bad_crc[at] ^= 0xff;
        assert!(matches!(
            inflate_in_chunks(&bad_crc, 1000),
            Err(InflateError::Corrupt(_))
        ));
        // What was inflated before the error is kept, the failed step's
        // output included: all of it, when only the checksum is wrong.
        let mut out = Vec::with_capacity(200_000);
        let failed = Inflater::new().inflate(&bad_crc, &mut out, |_| Ok::<(), ()>(()));
        assert!(matches!(
            failed,
            Err(Inflated::Inflate(InflateError::Corrupt(_)))
        ));
        assert!(out == vec![b'x'; 100_000], "{} bytes kept", out.len());
        assert!(matches!(
            inflate_in_chunks(b"this is not gzip", 4),
            Err(InflateError::Corrupt(_))
        ));
        assert_eq!(inflate_in_chunks(b"", 4), Err(InflateError::Truncated));
    }
}
