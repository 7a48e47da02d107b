//! The ruggedness data, read from `PYRITE_DATA`.
//!
//! The file is not shipped with the crate. With `PYRITE_DATA` unset the
//! check is skipped, unless `CI=true`, where it fails.

use pyrite_data::{rugged, DataError, DATA_DIR_ENV, RUGGED_URL};

#[test]
fn rugged_from_data_dir() {
    let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but {DATA_DIR_ENV} is not set; point it at the directory holding rugged_data.csv");
        }
        eprintln!("SKIPPED rugged_from_data_dir: set {DATA_DIR_ENV} to the directory holding rugged_data.csv");
        return;
    };
    let from_env = rugged(None).unwrap_or_else(|e| panic!("{e}"));
    let explicit = rugged(Some(dir.as_ref())).unwrap_or_else(|e| panic!("{e}"));
    for data in [&from_env, &explicit] {
        assert_eq!(data.len(), 170);
        for t in [&data.rugged, &data.cont_africa, &data.log_gdp] {
            assert_eq!((t.size(), t.kind()), (vec![170], tch::Kind::Float));
        }
        assert_eq!(i64::try_from(data.log_gdp.isfinite().sum(tch::Kind::Int64)).unwrap(), 170);
    }
    assert_eq!(from_env.country, explicit.country);
    assert_eq!(from_env.country[0], "Angola");
    // Pyro's tutorial: 49 African countries among the 170.
    assert_eq!(from_env.cont_africa.sum(tch::Kind::Double).double_value(&[]), 49.0);
}

#[test]
fn missing_file_says_where_it_looked() {
    let dir = std::env::temp_dir().join(format!("pyrite-data-{}-no-rugged", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = rugged(Some(&dir)).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, DataError::MissingFile { .. }));
    let message = err.to_string();
    for needle in ["rugged_data.csv", dir.to_str().unwrap(), RUGGED_URL, DATA_DIR_ENV, "shared data directory"] {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
}
