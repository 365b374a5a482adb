//! Random D-Bus values for the fuzz targets: every basic type with its
//! edge values, arrays, dicts holding our keys with the wrong types,
//! structures, and variants nested deep. What a buggy or hostile peer
//! could put in an `a{sv}`, in restore data or in a stored grant.

use std::collections::HashMap;

use rand::rngs::SmallRng;
use rand::Rng;
use zbus::zvariant::{ObjectPath, StructureBuilder, Value};

/// The keys the daemon reads from option dictionaries and restore data:
/// a random dict uses these most of the time, so the wrong types reach
/// the code that reads them.
pub const KEYS: &[&str] = &[
    "types",
    "multiple",
    "cursor_mode",
    "restore_data",
    "persist_mode",
    "mime_types",
    "finish",
    "grant",
    "outputs",
    "windows",
    "devices",
    "clipboard",
    "session_is_owner",
    "handle_token",
];

/// A float the validation must refuse or bound: NaN, infinities, huge,
/// tiny, negative zero; sometimes an ordinary one.
pub fn edge_f64(rng: &mut SmallRng) -> f64 {
    const EDGES: &[f64] = &[
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -0.0,
        0.0,
        1e300,
        -1e-300,
        10_000.0,
        10_000.000_001,
        -10_000.000_001,
        4_294_967_296.0,
    ];
    if rng.random_bool(0.5) {
        EDGES[rng.random_range(0..EDGES.len())]
    } else {
        rng.random_range(-4000.0..4000.0)
    }
}

/// An integer at or near a boundary: 0, ±1, the type's limits, the ranges
/// the validation uses (keycodes, buttons, slots), or any value.
pub fn edge_i32(rng: &mut SmallRng) -> i32 {
    const EDGES: &[i32] = &[
        0,
        1,
        -1,
        i32::MAX,
        i32::MIN,
        0x2ff,
        0x300,
        0x10f,
        0x110,
        0x117,
        0x118,
        0x1fff_ffff,
        0x2000_0000,
        15,
        16,
        120,
        121,
        -121,
    ];
    if rng.random_bool(0.6) {
        EDGES[rng.random_range(0..EDGES.len())]
    } else {
        rng.random()
    }
}

pub fn edge_u32(rng: &mut SmallRng) -> u32 {
    if rng.random_bool(0.3) {
        rng.random()
    } else {
        // Reinterpreted: -1 becomes u32::MAX, and so on.
        edge_i32(rng).cast_unsigned()
    }
}

/// A string: empty, ordinary, long (sometimes 1 MiB), or with characters
/// that matter to paths, TOML and JSON. Never NUL, which D-Bus forbids.
pub fn string(rng: &mut SmallRng) -> String {
    match rng.random_range(0..6) {
        0 => String::new(),
        1 => {
            let most = if rng.random_bool(0.02) { 1 << 20 } else { 200 };
            "x".repeat(rng.random_range(0..most))
        }
        2 => "text/plain;charset=utf-8".into(),
        3 => "../../\"'\\\n[]{}=é€\u{202e}\u{fffd}".into(),
        4 => "HEADLESS-1".into(),
        _ => (0..rng.random_range(0..24))
            .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
            .collect(),
    }
}

/// A random value tree, at most `depth` containers deep.
pub fn value(rng: &mut SmallRng, depth: u32) -> Value<'static> {
    let leaf = depth == 0 || rng.random_bool(0.3);
    match rng.random_range(0..if leaf { 9 } else { 14 }) {
        0 => Value::from(rng.random::<u32>() % 16),
        1 => Value::from(rng.random::<i64>()),
        2 => Value::from(rng.random_bool(0.5)),
        3 => Value::from(string(rng)),
        4 => Value::from(edge_f64(rng)),
        5 => Value::from(edge_u32(rng)),
        6 => Value::from(rng.random::<u8>()),
        7 => Value::from(ObjectPath::from_static_str_unchecked(
            "/org/freedesktop/portal/desktop/session/x",
        )),
        8 => Value::from(vec!["HEADLESS-1".to_string(); rng.random_range(0..3)]),
        9 => Value::Value(Box::new(value(rng, depth - 1))),
        10 => Value::from(vec![
            ("HEADLESS-1".to_string(), "d".to_string());
            rng.random_range(0..3)
        ]),
        11 => {
            // A structure: restore data's (suv) shape, or any.
            let mut b = StructureBuilder::new();
            for _ in 0..rng.random_range(1..4) {
                b = b.append_field(value(rng, depth - 1));
            }
            b.build().map(Value::from).unwrap_or(Value::from(0u32))
        }
        12 => Value::from(
            (0..rng.random_range(0..64))
                .map(|_| rng.random::<u8>())
                .collect::<Vec<u8>>(),
        ),
        _ => Value::from(dict(rng, depth - 1)),
    }
}

/// An `a{sv}`: mostly our keys, with random values.
pub fn dict(rng: &mut SmallRng, depth: u32) -> HashMap<String, Value<'static>> {
    let mut map = HashMap::new();
    for _ in 0..rng.random_range(0..5) {
        let key = if rng.random_bool(0.8) {
            KEYS[rng.random_range(0..KEYS.len())].to_owned()
        } else {
            string(rng)
        };
        map.insert(key, value(rng, depth));
    }
    map
}

/// `value` wrapped in `n` variants: the deep chains a decoder must bound.
pub fn chain(mut v: Value<'static>, n: usize) -> Value<'static> {
    for _ in 0..n {
        v = Value::Value(Box::new(v));
    }
    v
}
