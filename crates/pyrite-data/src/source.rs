//! Raw input shared by the loaders: reading files, gzip, text decoding.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{DataError, Result};

/// The name under which errors report a file embedded in the crate.
pub(crate) fn embedded(name: &str) -> PathBuf {
    PathBuf::from(format!("<embedded>/{name}"))
}

/// Reads a whole file, mapping failures to [`DataError::Io`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })
}

/// Decompresses `bytes` if they start with the gzip magic number, else returns them unchanged.
pub(crate) fn maybe_gunzip<'a>(path: &Path, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    Ok(Cow::Owned(out))
}

/// Decodes text as UTF-8, falling back to ISO-8859-1 (every byte is one character).
///
/// The copy of `rugged_data.csv` that the Pyro tutorial downloads is ISO-8859-1.
pub(crate) fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_and_latin1() {
        assert_eq!(decode_text("C\u{f4}te".as_bytes()), "C\u{f4}te");
        assert_eq!(decode_text(b"C\xf4te"), "C\u{f4}te");
    }

    #[test]
    fn gunzips_only_gzip() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        let path = Path::new("x");
        assert_eq!(&*maybe_gunzip(path, &gz).unwrap(), b"hello");
        assert_eq!(&*maybe_gunzip(path, b"plain").unwrap(), b"plain");
        assert!(maybe_gunzip(path, &gz[..gz.len() / 2]).is_err());
    }
}
