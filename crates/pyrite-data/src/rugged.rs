//! Terrain ruggedness and GDP per country (Nunn & Puga), read from disk.

use std::path::{Path, PathBuf};

use tch::Tensor;

use crate::csv::Table;
use crate::error::{DataError, Result};
use crate::source::{decode_text, read_file};

/// The file name [`rugged`] reads.
pub const RUGGED_FILE: &str = "rugged_data.csv";

/// Where the Pyro introduction tutorial downloads [`RUGGED_FILE`] from.
pub const RUGGED_URL: &str = "https://d2hg8soec8ck9v.cloudfront.net/datasets/rugged_data.csv";

/// Environment variable naming the directory that holds data files not
/// shipped with the crate.
pub const DATA_DIR_ENV: &str = "PYRITE_DATA";

/// The ruggedness data, restricted to the 170 countries with a finite
/// `rgdppc_2000`, in file order.
///
/// All tensors are on the CPU and have one entry per country.
#[derive(Debug)]
pub struct Rugged {
    /// Country names.
    pub country: Vec<String>,
    /// Terrain ruggedness index, f32.
    pub rugged: Tensor,
    /// 1 for African countries, 0 otherwise, f32.
    pub cont_africa: Tensor,
    /// Natural log of real GDP per capita in 2000 (`ln(rgdppc_2000)`), f32.
    pub log_gdp: Tensor,
}

impl Rugged {
    /// Number of countries (170 for the standard file).
    pub fn len(&self) -> usize {
        self.country.len()
    }

    /// Whether no country has a finite GDP.
    pub fn is_empty(&self) -> bool {
        self.country.is_empty()
    }
}

/// Loads `rugged_data.csv` from `data_dir`, or, when that is `None`, from the
/// directory named by the `PYRITE_DATA` environment variable.
///
/// The file is not shipped with the crate: download it from [`RUGGED_URL`]
/// (UTF-8 and ISO-8859-1 encodings are both accepted). Rows whose
/// `rgdppc_2000` is empty, `NA` or not finite are dropped.
///
/// # Errors
///
/// [`DataError::MissingFile`] (saying where it looked and where to get the
/// file) when no directory is known or the file is not in it;
/// [`DataError::Io`] or [`DataError::Parse`] when it cannot be read.
///
/// ```
/// match pyrite_data::rugged(None) {
///     Ok(data) => assert_eq!(data.log_gdp.size(), [data.len() as i64]),
///     Err(err) => eprintln!("skipping: {err}"),
/// }
/// ```
pub fn rugged(data_dir: Option<&Path>) -> Result<Rugged> {
    let hint = format!(
        "download it from {RUGGED_URL} (the file the Pyro tutorial reads) or copy it from the \
         project's shared data directory, then pass its directory to `rugged` or set {DATA_DIR_ENV}"
    );
    let missing = |looked_in: String| DataError::MissingFile { file: RUGGED_FILE.to_string(), looked_in, hint: hint.clone() };
    let (dir, origin) = match data_dir {
        Some(dir) => (dir.to_path_buf(), "passed to `rugged`".to_string()),
        None => match std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => (PathBuf::from(dir), format!("named by {DATA_DIR_ENV}")),
            None => return Err(missing(format!("no directory: none was passed and {DATA_DIR_ENV} is not set"))),
        },
    };
    let path = dir.join(RUGGED_FILE);
    if !path.is_file() {
        return Err(missing(format!("{}, {origin}", dir.display())));
    }
    let bytes = read_file(&path)?;
    parse(path, &decode_text(&bytes))
}

fn parse(path: PathBuf, text: &str) -> Result<Rugged> {
    let table = Table::parse(path, text)?;
    let c_country = table.column("country")?;
    let c_rugged = table.column("rugged")?;
    let c_africa = table.column("cont_africa")?;
    let c_gdp = table.column("rgdppc_2000")?;
    let (mut country, mut rugged, mut cont_africa, mut log_gdp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rec in table.records() {
        let gdp = match table.text(rec, c_gdp) {
            "" | "NA" => continue,
            _ => table.number(rec, c_gdp)?,
        };
        if !gdp.is_finite() {
            continue;
        }
        country.push(table.text(rec, c_country).to_string());
        rugged.push(table.number(rec, c_rugged)? as f32);
        cont_africa.push(table.number(rec, c_africa)? as f32);
        log_gdp.push(gdp.ln() as f32);
    }
    Ok(Rugged { country, rugged: Tensor::from_slice(&rugged), cont_africa: Tensor::from_slice(&cont_africa), log_gdp: Tensor::from_slice(&log_gdp) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_rows_with_finite_gdp() {
        let text = "country,rugged,cont_africa,rgdppc_2000\n\
                    \"Korea, Rep.\",1.5,0,1000\n\
                    Aruba,0.4,0,\n\
                    Chad,0.6,1,NA\n\
                    Mali,0.3,1,inf\n\
                    C\u{f4}te d'Ivoire,0.2,1,100\n";
        let data = parse(PathBuf::from("r.csv"), text).unwrap();
        assert_eq!(data.country, ["Korea, Rep.", "C\u{f4}te d'Ivoire"]);
        assert_eq!(Vec::<f32>::try_from(&data.cont_africa).unwrap(), [0.0, 1.0]);
        let log_gdp = Vec::<f32>::try_from(&data.log_gdp).unwrap();
        assert!((log_gdp[1] - 100f32.ln()).abs() < 1e-6);
    }
}
