//! The docs show real output: the `format_shapes` table in docs/concepts.md is the one the iris
//! mixture model prints.

use pyrite::prelude::*;
use pyrite_examples::models::gmm::model as gmm;

#[test]
fn concepts_format_shapes_block_is_real_output() {
    let data = pyrite::data::iris().unwrap().petal_length;
    let tr = get_trace(|| gmm(&data)).unwrap();
    let actual = tr.format_shapes();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/concepts.md")).unwrap();
    let start = doc.find("<!-- format_shapes: iris mixture -->\n```\n").expect("marker in docs/concepts.md");
    let body = &doc[start..];
    let body = &body[body.find("```\n").unwrap() + 4..];
    let block = &body[..body.find("```").unwrap()];
    assert_eq!(block, actual, "docs/concepts.md is stale; the model prints:\n{actual}");
}
