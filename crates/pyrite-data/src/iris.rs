//! Fisher's iris measurements.

use tch::Tensor;

use crate::csv::Table;
use crate::error::Result;
use crate::source::embedded;

const IRIS_CSV: &str = include_str!("../data/iris.csv");

/// Species names in label order.
const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// Fisher's iris data: 150 flowers, 50 of each species, in the usual order
/// (rows 0-49 setosa, 50-99 versicolor, 100-149 virginica).
///
/// All tensors are on the CPU.
#[derive(Debug)]
pub struct Iris {
    /// Measurements in cm, f32 `[150, 4]`: sepal length, sepal width,
    /// petal length, petal width.
    pub features: Tensor,
    /// Petal length in cm (column 2 of `features`), f32 `[150]`.
    pub petal_length: Tensor,
    /// Species label, i64 `[150]`: 0 setosa, 1 versicolor, 2 virginica.
    pub species: Tensor,
    /// Species names indexed by label.
    pub species_names: Vec<String>,
}

impl Iris {
    /// Number of flowers (150).
    pub fn len(&self) -> usize {
        self.species.size()[0] as usize
    }

    /// Whether the data set has no rows (never true for the shipped data).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads the iris data embedded in the crate.
///
/// ```
/// let iris = pyrite_data::iris()?;
/// assert_eq!(iris.features.size(), [150, 4]);
/// assert_eq!(iris.species_names[0], "setosa");
/// # Ok::<(), pyrite_data::DataError>(())
/// ```
pub fn iris() -> Result<Iris> {
    let table = Table::parse(embedded("iris.csv"), IRIS_CSV)?;
    let columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"].iter().map(|name| table.column(name)).collect::<Result<Vec<_>>>()?;
    let c_species = table.column("species")?;
    let n = table.records().len();
    let mut features = Vec::with_capacity(4 * n);
    let mut species = Vec::with_capacity(n);
    for rec in table.records() {
        for &col in &columns {
            features.push(table.number(rec, col)? as f32);
        }
        let name = table.text(rec, c_species);
        let label =
            SPECIES.iter().position(|&s| s == name).ok_or_else(|| table.error(rec.line, format!("unknown species `{name}` (expected one of {SPECIES:?})")))?;
        species.push(label as i64);
    }
    let features = Tensor::from_slice(&features).view([n as i64, 4]);
    Ok(Iris {
        petal_length: features.select(1, 2).contiguous(),
        features,
        species: Tensor::from_slice(&species),
        species_names: SPECIES.map(String::from).to_vec(),
    })
}
