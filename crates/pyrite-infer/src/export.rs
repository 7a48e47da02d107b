//! Posterior draws as a numpy `.npz` archive, for the Python ecosystem (numpy, ArviZ).
//!
//! [`save_npz`] writes one `.npy` array per site with dimensions `(chain, draw, ...site shape)`,
//! as `numpy.savez` would: a zip archive of stored (uncompressed) entries named `<site>.npy`,
//! each an NPY format 1.0 file (a 64-byte-aligned header, then the little-endian data in C
//! order). In Python:
//!
//! ```python
//! import numpy as np, arviz as az
//! draws = dict(np.load("posterior.npz"))         # site -> array (chain, draw, ...)
//! idata = az.from_dict(posterior=draws)
//! ```
//!
//! The file is written to a temporary name beside `path` and renamed, so a reader never sees a
//! partial archive; its bytes depend only on the draws (entries carry the zip epoch,
//! 1980-01-01, as their date).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Crc;
use indexmap::IndexMap;
use pyrite_core::{PyriteError, Result};
use tch::{Device, Kind, Tensor};

/// Writes `samples` to `path` as an `.npz` archive, one array per site with dimensions
/// `(chain, draw, ...)`.
///
/// With `group_by_chain` each tensor is `[chains, draws, ...]` (as `Mcmc::get_samples_by_chain`
/// returns them) and is written as it is; otherwise each is `[draws, ...]` (as
/// `Mcmc::get_samples`, `Predictive` and autoguides' `sample_posterior` return them) and is
/// written as a single chain, `(1, draws, ...)`.
///
/// Floating, integer, boolean and complex dtypes keep their numpy equivalents (`float32` as
/// `<f4`, `bool` as `|b1`, ...); `bfloat16`, which numpy lacks, is written as `float32`.
///
/// ```
/// use pyrite_infer::export::save_npz;
/// use pyrite_infer::prelude::*;
/// use tch::{Device, Kind, Tensor};
/// let samples: Samples = [
///     ("mu".to_string(), Tensor::randn([500], (Kind::Float, Device::Cpu))),
///     ("theta".to_string(), Tensor::randn([500, 3], (Kind::Double, Device::Cpu))),
/// ].into_iter().collect();
/// let path = std::env::temp_dir().join(format!("pyrite-doc-{}.npz", std::process::id()));
/// save_npz(&path, &samples, false)?; // numpy reads mu as (1, 500) and theta as (1, 500, 3)
/// assert!(std::fs::metadata(&path)?.len() > 500 * 4 + 500 * 3 * 8);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] when `samples` is empty, a tensor has too few dimensions
/// (fewer than 2 with `group_by_chain`, none without), the sites disagree on the number of
/// chains or draws (ArviZ needs one `(chain, draw)` grid), a site's name is empty, or a dtype
/// has no numpy equivalent; [`PyriteError::Io`] naming `path` when it cannot be written or the
/// archive would pass the 4 GiB limit of a zip without zip64 extensions.
pub fn save_npz(path: impl AsRef<Path>, samples: &IndexMap<String, Tensor>, group_by_chain: bool) -> Result<()> {
    let path = path.as_ref();
    let arrays = arrays(samples, group_by_chain)?;
    let io = |problem: String| PyriteError::Io { path: path.display().to_string(), problem };
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    // A temporary name of its own per call, so that concurrent saves to one path do not write
    // into each other's temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{file_name}.{}.{n}.tmp-write", std::process::id()));
    let written = File::create(&tmp).map_err(|e| e.to_string()).and_then(|f| {
        let mut zip = ZipWriter::new(BufWriter::new(f));
        for (name, t) in &arrays {
            zip.entry(&format!("{name}.npy"), &npy(t)?)?;
        }
        let mut out = zip.finish()?;
        out.flush().map_err(|e| e.to_string())
    });
    match written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string())) {
        Ok(()) => Ok(()),
        Err(problem) => {
            let _ = std::fs::remove_file(&tmp);
            Err(io(problem))
        }
    }
}

/// The sites as `(chain, draw, ...)` tensors on the CPU, checked.
fn arrays(samples: &IndexMap<String, Tensor>, group_by_chain: bool) -> Result<Vec<(&str, Tensor)>> {
    let invalid = |problem: String| PyriteError::InvalidInput { what: "samples".into(), problem };
    if samples.is_empty() {
        return Err(invalid("no sites to write".into()));
    }
    let mut grid: Option<(&str, [i64; 2])> = None;
    let mut out = Vec::with_capacity(samples.len());
    for (name, t) in samples {
        if name.is_empty() {
            return Err(invalid("a site has an empty name".into()));
        }
        let t = if group_by_chain { t.shallow_clone() } else { t.unsqueeze(0) };
        let size = t.size();
        if size.len() < 2 {
            let expected = if group_by_chain { "[chains, draws, ...]" } else { "[draws, ...]" };
            return Err(invalid(format!("site `{name}` has shape {:?}, expected {expected}", samples[name].size())));
        }
        let here = [size[0], size[1]];
        match grid {
            Some((first, g)) if g != here => {
                return Err(invalid(format!("site `{name}` has {} chains of {} draws, site `{first}` {} of {}", here[0], here[1], g[0], g[1])));
            }
            _ => grid = Some((name, here)),
        }
        let t = if t.kind() == Kind::BFloat16 { t.to_kind(Kind::Float) } else { t };
        descr(t.kind()).ok_or_else(|| invalid(format!("site `{name}` has dtype {:?}, which numpy has no equivalent of", t.kind())))?;
        out.push((name.as_str(), t.detach().to_device(Device::Cpu).contiguous()));
    }
    Ok(out)
}

/// numpy's type string of a tensor kind, in this machine's byte order.
fn descr(kind: Kind) -> Option<String> {
    let order = if cfg!(target_endian = "little") { '<' } else { '>' };
    let (code, multibyte) = match kind {
        Kind::Bool => ("b1", false),
        Kind::Uint8 => ("u1", false),
        Kind::Int8 => ("i1", false),
        Kind::Int16 => ("i2", true),
        Kind::Int => ("i4", true),
        Kind::Int64 => ("i8", true),
        Kind::Half => ("f2", true),
        Kind::Float => ("f4", true),
        Kind::Double => ("f8", true),
        Kind::ComplexFloat => ("c8", true),
        Kind::ComplexDouble => ("c16", true),
        _ => return None,
    };
    Some(format!("{}{code}", if multibyte { order } else { '|' }))
}

/// A contiguous CPU tensor as an NPY 1.0 file: magic, version, header length, the header
/// dictionary padded with spaces to a multiple of 64 bytes and ending in a newline, the data.
fn npy(t: &Tensor) -> std::result::Result<Vec<u8>, String> {
    let descr = descr(t.kind()).ok_or_else(|| format!("no numpy dtype for {:?}", t.kind()))?;
    let size = t.size();
    let shape = match size.as_slice() {
        [one] => format!("({one},)"),
        dims => format!("({})", dims.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // 6 bytes of magic, 2 of version, 2 of header length, then the header and its newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| format!("the shape {size:?} makes an NPY header over 65535 bytes"))?;
    let numel = t.numel();
    let data_len = numel * t.kind().elt_size_in_bytes();
    let mut out = Vec::with_capacity(10 + header.len() + data_len);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let start = out.len();
    out.resize(start + data_len, 0);
    t.f_copy_data_u8(&mut out[start..], numel).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A zip archive of stored entries (no compression, no zip64), written as it goes.
struct ZipWriter<W: Write> {
    out: W,
    offset: u64,
    central: Vec<u8>,
    entries: u16,
}

/// 1980-01-01 00:00:00 in MS-DOS format, the zip epoch.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

impl<W: Write> ZipWriter<W> {
    fn new(out: W) -> Self {
        ZipWriter { out, offset: 0, central: Vec::new(), entries: 0 }
    }

    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        self.out.write_all(bytes).map_err(|e| e.to_string())?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Appends an entry: local header, then the data; its central directory record is kept for
    /// [`ZipWriter::finish`].
    fn entry(&mut self, name: &str, data: &[u8]) -> std::result::Result<(), String> {
        const LIMIT: &str = "the archive passes 4 GiB or 65535 entries, the limits of a zip without zip64";
        let size = u32::try_from(data.len()).ok().filter(|&s| s != u32::MAX).ok_or(LIMIT)?;
        let offset = u32::try_from(self.offset).ok().filter(|&o| o != u32::MAX).ok_or(LIMIT)?;
        self.entries = self.entries.checked_add(1).filter(|&n| n != u16::MAX).ok_or(LIMIT)?;
        let name_len = u16::try_from(name.len()).map_err(|_| format!("the entry name `{name}` is longer than 65535 bytes"))?;
        let mut crc = Crc::new();
        crc.update(data);
        // Bit 11: the name is UTF-8.
        let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
        // Version 2.0, flags, method 0 (stored), time, date, CRC-32, sizes, name length, no extra.
        let common = [
            &20u16.to_le_bytes()[..],
            &flags.to_le_bytes(),
            &0u16.to_le_bytes(),
            &DOS_TIME.to_le_bytes(),
            &DOS_DATE.to_le_bytes(),
            &crc.sum().to_le_bytes(),
            &size.to_le_bytes(),
            &size.to_le_bytes(),
            &name_len.to_le_bytes(),
            &0u16.to_le_bytes(),
        ]
        .concat();
        let mut local = 0x0403_4b50u32.to_le_bytes().to_vec();
        local.extend_from_slice(&common);
        local.extend_from_slice(name.as_bytes());
        // Central record: version made by, then the common fields, then comment length 0, disk
        // 0, internal and external attributes 0 (2 + 2 + 2 + 4 bytes), the local header's
        // offset, the name.
        self.central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes());
        self.central.extend_from_slice(&common);
        self.central.extend_from_slice(&[0u8; 10]);
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        self.write(&local)?;
        self.write(data)
    }

    /// Writes the central directory and its end record; gives the writer back.
    fn finish(mut self) -> std::result::Result<W, String> {
        const LIMIT: &str = "the archive passes 4 GiB, the limit of a zip without zip64";
        let start = u32::try_from(self.offset).ok().filter(|&o| o != u32::MAX).ok_or(LIMIT)?;
        let size = u32::try_from(self.central.len()).map_err(|_| LIMIT)?;
        let central = std::mem::take(&mut self.central);
        self.write(&central)?;
        let mut end = 0x0605_4b50u32.to_le_bytes().to_vec();
        end.extend_from_slice(&[0u8; 4]); // this disk, the central directory's disk
        end.extend_from_slice(&self.entries.to_le_bytes());
        end.extend_from_slice(&self.entries.to_le_bytes());
        end.extend_from_slice(&size.to_le_bytes());
        end.extend_from_slice(&start.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // no comment
        self.write(&end)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_64_byte_aligned_and_numpy_formatted() {
        let t = Tensor::zeros([1, 7, 3], (Kind::Double, Device::Cpu));
        let bytes = npy(&t).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 7, 3), }"), "{header}");
        assert!(header.ends_with(" \n"));
        assert_eq!(bytes.len(), 10 + header_len + 21 * 8);
        assert_eq!(descr(Kind::Bool).as_deref(), Some("|b1"));
        assert_eq!(descr(Kind::BFloat16), None);
    }

    #[test]
    fn zip_entries_have_crc32_of_their_data() {
        let mut zip = ZipWriter::new(Vec::new());
        zip.entry("a.npy", b"hello").unwrap();
        let bytes = zip.finish().unwrap();
        // The standard CRC-32 check value of "hello".
        assert_eq!(u32::from_le_bytes(bytes[14..18].try_into().unwrap()), 0x3610_a686);
        assert_eq!(&bytes[30..35], b"a.npy");
        assert_eq!(&bytes[35..40], b"hello");
        // Central record right after the data: 46 bytes, then the name.
        assert_eq!(&bytes[40..44], &0x0201_4b50u32.to_le_bytes());
        assert_eq!(&bytes[40 + 46..40 + 51], b"a.npy");
        // End record: one entry, a central directory of 51 bytes at offset 40.
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(bytes.len(), 40 + 51 + 22);
        assert_eq!(&end[..4], &0x0605_4b50u32.to_le_bytes());
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 1);
        assert_eq!((u32::from_le_bytes(end[12..16].try_into().unwrap()), u32::from_le_bytes(end[16..20].try_into().unwrap())), (51, 40));
    }
}
