//! Minnesota indoor radon measurements (Gelman & Hill).

use tch::{Kind, Tensor};

use crate::csv::Table;
use crate::error::Result;
use crate::source::embedded;

const RADON_CSV: &str = include_str!("../data/radon_mn.csv");

/// The Minnesota radon data: 919 homes in 85 counties.
///
/// All tensors are on the CPU and have one entry per home.
#[derive(Debug)]
pub struct Radon {
    /// Log radon level, f32 `[919]`.
    pub log_radon: Tensor,
    /// Floor of the measurement (0 basement, 1 first floor), f32 `[919]`.
    pub floor: Tensor,
    /// County code `0..num_counties`, i64 `[919]`.
    pub county: Tensor,
    /// Log uranium of the home's county, f32 `[919]`.
    pub uranium: Tensor,
    /// County names indexed by county code (85 entries).
    pub county_names: Vec<String>,
    /// Number of counties (85).
    pub num_counties: i64,
}

impl Radon {
    /// Number of homes (919).
    pub fn len(&self) -> usize {
        self.log_radon.size()[0] as usize
    }

    /// Whether the data set has no rows (never true for the shipped data).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Log uranium per county, f32 `[num_counties]`, indexed by county code.
    ///
    /// ```
    /// let radon = pyrite_data::radon()?;
    /// let u = radon.county_uranium();
    /// assert_eq!(u.size(), [85]);
    /// // Each home's uranium is its county's value.
    /// assert!(u.index_select(0, &radon.county).equal(&radon.uranium));
    /// # Ok::<(), pyrite_data::DataError>(())
    /// ```
    pub fn county_uranium(&self) -> Tensor {
        // The loader checked that uranium is constant within a county, so
        // scattering duplicates writes the same value.
        Tensor::zeros([self.num_counties], (Kind::Float, self.uranium.device())).scatter(0, &self.county, &self.uranium)
    }
}

/// Loads the Minnesota radon data embedded in the crate.
///
/// Columns of the source file: `log_radon`, `floor`, `county_code` (0-based),
/// `county` (name) and `uranium` (county log uranium).
///
/// ```
/// let radon = pyrite_data::radon()?;
/// assert_eq!(radon.log_radon.size(), [919]);
/// assert_eq!(radon.num_counties, 85);
/// assert_eq!(radon.county_names[0], "AITKIN");
/// # Ok::<(), pyrite_data::DataError>(())
/// ```
pub fn radon() -> Result<Radon> {
    let table = Table::parse(embedded("radon_mn.csv"), RADON_CSV)?;
    let c_radon = table.column("log_radon")?;
    let c_floor = table.column("floor")?;
    let c_code = table.column("county_code")?;
    let c_name = table.column("county")?;
    let c_uranium = table.column("uranium")?;
    let n = table.records().len();
    let (mut log_radon, mut floor, mut county, mut uranium) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    // Per county code: (name, uranium), checked to be consistent across rows.
    let mut counties: Vec<Option<(String, f64)>> = Vec::new();
    for rec in table.records() {
        let code = table.integer(rec, c_code)?;
        let name = table.text(rec, c_name);
        let u = table.number(rec, c_uranium)?;
        let slot = usize::try_from(code).map_err(|_| table.error(rec.line, format!("negative county code {code}")))?;
        if counties.len() <= slot {
            counties.resize(slot + 1, None);
        }
        match &counties[slot] {
            None => counties[slot] = Some((name.to_string(), u)),
            Some((known, ku)) if known == name && *ku == u => {}
            Some((known, ku)) => {
                let message = format!("county code {code} is `{name}` with uranium {u}, earlier `{known}` with uranium {ku}");
                return Err(table.error(rec.line, message));
            }
        }
        log_radon.push(table.number(rec, c_radon)? as f32);
        floor.push(table.number(rec, c_floor)? as f32);
        county.push(code);
        uranium.push(u as f32);
    }
    let county_names = counties
        .into_iter()
        .enumerate()
        .map(|(code, c)| c.map(|(name, _)| name).ok_or_else(|| table.error(1, format!("county code {code} never occurs"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Radon {
        log_radon: Tensor::from_slice(&log_radon),
        floor: Tensor::from_slice(&floor),
        county: Tensor::from_slice(&county),
        uranium: Tensor::from_slice(&uranium),
        num_counties: county_names.len() as i64,
        county_names,
    })
}
