//! Fuzz targets for what ionChannel reads from files and from the
//! frontend's permission store: the policy file, the grants file and
//! restore data. Each must never panic and never grant more than it says:
//! - a policy that parses allows a session only within a rule for its app,
//!   and within what the session asked;
//! - a restore applies only a grant that exists, for its app and kind,
//!   untampered, within what was asked, on outputs and windows present;
//! - restore data that reads back is exactly what it encodes.

use ion_core::consent::SessionKind;
use ion_core::grants::{
    self, Grant, GrantFile, OutputName, Present, RestoreAsk, WindowName, RESTORE_VENDOR,
    RESTORE_VERSION,
};
use ion_core::policy::{Decision, Policy, SOURCE_MONITOR, SOURCE_WINDOW};
use ion_core::{DeviceType, DeviceTypes};
use rand::rngs::SmallRng;
use rand::Rng;
use zbus::zvariant::{OwnedValue, Value};

use super::mutate::mutate;

const POLICIES: &[&str] = &[
    "",
    "[[allow]]\napp_id = \"com.rustdesk.RustDesk\"\ndevices = [\"keyboard\", \"pointer\"]\nsources = [\"monitor\"]\nclipboard = true\npersist = true\n",
    "[[allow]]\napp_id = \"*\"\nsources = [\"window\"]\nwindows = [{ app_id = \"org.gnome.Terminal\" }, { title = \"* - Notes\" }]\n\n[dialog]\nenabled = false\n",
    "[[allow]]\napp_id = \"\"\ndevices = [\"touchscreen\"]\n[[allow]]\napp_id = \"org.deskflow.deskflow\"\ndevices = [\"keyboard\"]\n[dialog]\ncommand = [\"sh\", \"-c\", \"echo\"]\ntimeout = 30\n",
];

const POLICY_TOKENS: &[&str] = &[
    "[[allow]]\n",
    "[dialog]\n",
    "app_id = \"*\"\n",
    "app_id = \"\"\n",
    "app_id = \"com.x\"\n",
    "devices = [\"keyboard\", \"pointer\", \"touchscreen\"]\n",
    "sources = [\"monitor\", \"window\"]\n",
    "clipboard = true\n",
    "persist = true\n",
    "enabled = false\n",
    "command = []\n",
    "windows = [{ app_id = \"a\", title = \"*\" }]\n",
    "timeout = -1\n",
    "timeout = 99999999999999999999\n",
    "[[[[",
    "{{{{",
    "\"\\u0000\"",
    "devices = \"keyboard\"\n",
    "app_id = 7\n",
    "\n[allow]\n",
];

const APP_IDS: &[&str] = &[
    "",
    "com.rustdesk.RustDesk",
    "org.deskflow.deskflow",
    "*",
    "com.x",
    "org.gnome.Terminal",
];

fn rule_bits(names: &[String]) -> u32 {
    names
        .iter()
        .map(|n| match n.as_str() {
            "monitor" => SOURCE_MONITOR,
            "window" => SOURCE_WINDOW,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

fn device_types(names: &[String]) -> DeviceTypes {
    names
        .iter()
        .filter_map(|n| DeviceType::from_name(n))
        .collect()
}

fn subset(a: DeviceTypes, b: DeviceTypes) -> bool {
    a.intersection(b) == a
}

/// One mutated policy file: it parses or not, never panics, and what it
/// allows is within one of its rules for the app and within the ask.
pub fn policy(rng: &mut SmallRng) -> Result<(), String> {
    let seed = POLICIES[rng.random_range(0..POLICIES.len())];
    let bytes = mutate(rng, seed.as_bytes(), POLICY_TOKENS);
    // The daemon reads the file as UTF-8; anything else is an error there.
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(());
    };
    let Ok(policy) = Policy::parse(text) else {
        return Ok(());
    };
    for _ in 0..16 {
        let app_id = APP_IDS[rng.random_range(0..APP_IDS.len())];
        let devices = DeviceTypes::from_bits(rng.random_range(0..8)).unwrap_or(DeviceTypes::EMPTY);
        let sources = rng.random_range(0..4u32);
        let clipboard = rng.random_bool(0.5);
        let Decision::Allow {
            devices: got_devices,
            sources: got_sources,
            clipboard: got_clipboard,
            ..
        } = policy.decide(app_id, devices, sources, clipboard)
        else {
            continue;
        };
        let within_ask = subset(got_devices, devices)
            && got_sources & !sources == 0
            && (!got_clipboard || clipboard);
        let within_a_rule = policy.allow.iter().any(|r| {
            (r.app_id == app_id || r.app_id == "*")
                && subset(got_devices, device_types(&r.devices))
                && got_sources & !rule_bits(&r.sources) == 0
                && (!got_clipboard || r.clipboard)
        });
        if !within_ask || !within_a_rule {
            return Err(format!(
                "policy widened access: app {app_id:?} asked devices {devices} sources {sources} clipboard {clipboard}, got devices {got_devices} sources {got_sources} clipboard {got_clipboard}; file:\n{text}"
            ));
        }
    }
    Ok(())
}

fn out(name: &str, description: &str) -> OutputName {
    OutputName {
        name: name.into(),
        description: description.into(),
    }
}

fn seed_grants() -> GrantFile {
    GrantFile {
        version: 1,
        grants: vec![
            Grant {
                id: "a1b2".into(),
                app_id: "com.rustdesk.RustDesk".into(),
                kind: SessionKind::RemoteDesktop,
                devices: vec!["keyboard".into(), "pointer".into()],
                outputs: vec![out("HEADLESS-1", "Headless 1")],
                windows: vec![],
                clipboard: true,
                created: 1,
            },
            Grant {
                id: "c3d4".into(),
                app_id: "".into(),
                kind: SessionKind::Screencast,
                devices: vec![],
                outputs: vec![],
                windows: vec![WindowName {
                    app_id: "org.gnome.Terminal".into(),
                }],
                clipboard: false,
                created: 2,
            },
        ],
    }
}

const GRANT_TOKENS: &[&str] = &[
    "\"devices\":[\"keyboard\",\"pointer\",\"touchscreen\"],",
    "\"clipboard\":true,",
    "\"app_id\":\"*\",",
    "\"kind\":\"remote_desktop\",",
    "\"kind\":\"screencast\",",
    "{\"name\":\"HEADLESS-2\",\"description\":\"x\"}",
    "\"version\":2,",
    "[[[[[[",
    "\"\\ud800\"",
    "1e999",
    "null",
    ",{}",
    "\"id\":\"a1b2\",",
];

fn pick<'a>(rng: &mut SmallRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// A well-formed grants file of random grants.
fn random_grant_file(rng: &mut SmallRng) -> GrantFile {
    let grants = (0..rng.random_range(0..4))
        .map(|i| {
            let devices: Vec<String> = ["keyboard", "pointer", "touchscreen", "joystick"]
                .into_iter()
                .filter(|_| rng.random_bool(0.4))
                .map(String::from)
                .collect();
            let outputs = ["HEADLESS-1", "HEADLESS-2", "HEADLESS-3"]
                .into_iter()
                .filter(|_| rng.random_bool(0.3))
                .map(|n| out(n, &format!("Headless {}", &n[9..])))
                .collect();
            let windows = (0..rng.random_range(0..3))
                .map(|_| WindowName {
                    app_id: pick(rng, &["org.gnome.Terminal", "org.x.Other"]).into(),
                })
                .collect();
            Grant {
                id: format!("g{i}"),
                app_id: pick(rng, APP_IDS).into(),
                kind: if rng.random_bool(0.5) {
                    SessionKind::RemoteDesktop
                } else {
                    SessionKind::Screencast
                },
                devices,
                outputs,
                windows,
                clipboard: rng.random_bool(0.5),
                created: 1,
            }
        })
        .collect();
    GrantFile { version: 1, grants }
}

/// A random restore request against a (mutated) grants file: a restore
/// that applies stays within its grant and the ask.
pub fn grants(rng: &mut SmallRng) -> Result<(), String> {
    let seed = seed_grants();
    // Half the files are byte-mutated text (most do not parse: the parser
    // is what is tested), half are random but well-formed (the restore
    // logic is what is tested).
    let file = if rng.random_bool(0.5) {
        let text = seed.to_text();
        let bytes = mutate(rng, text.as_bytes(), GRANT_TOKENS);
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Ok(());
        };
        let Ok(file) = GrantFile::parse(text) else {
            return Ok(());
        };
        file
    } else {
        random_grant_file(rng)
    };
    let pool = if file.grants.is_empty() {
        &seed.grants
    } else {
        &file.grants
    };
    for _ in 0..8 {
        // Restore data of one of the grants, sometimes altered.
        let mut data = pool[rng.random_range(0..pool.len())].restore_data();
        match rng.random_range(0..10) {
            0 => data.devices = DeviceTypes::ALL,
            1 => data.clipboard = true,
            2 => data.outputs.push(out("HEADLESS-2", "Headless 2")),
            3 => data.grant = "zzzz".into(),
            4 => data.windows.clear(),
            _ => {}
        }
        let ask = RestoreAsk {
            app_id: APP_IDS[rng.random_range(0..APP_IDS.len())],
            kind: if rng.random_bool(0.5) {
                SessionKind::RemoteDesktop
            } else {
                SessionKind::Screencast
            },
            devices: DeviceTypes::from_bits(rng.random_range(0..8)).unwrap_or(DeviceTypes::EMPTY),
            source_types: rng.random_range(0..4),
            multiple: rng.random_bool(0.5),
            clipboard: rng.random_bool(0.5),
        };
        let present = Present {
            outputs: vec![
                out("HEADLESS-1", "Headless 1"),
                out("HEADLESS-2", "Headless 2"),
            ],
            windows: vec![("w1".into(), "org.gnome.Terminal".into())],
        };
        let Ok(restored) = grants::restore(
            &file,
            RESTORE_VENDOR,
            RESTORE_VERSION,
            Some(&data),
            &ask,
            &present,
        ) else {
            continue;
        };
        let Some(grant) = file.get(&restored.grant) else {
            return Err(format!(
                "restored grant {} that the file does not hold",
                restored.grant
            ));
        };
        let ok = grant.app_id == ask.app_id
            && grant.kind == ask.kind
            && grant.restore_data() == data
            && subset(restored.devices, grant.device_types())
            && subset(restored.devices, ask.devices)
            && (!restored.clipboard || (grant.clipboard && ask.clipboard))
            && restored.outputs.iter().all(|o| {
                grant.outputs.iter().any(|g| &g.name == o)
                    && present.outputs.iter().any(|p| &p.name == o)
            })
            && restored.windows.iter().all(|w| {
                present
                    .windows
                    .iter()
                    .any(|(id, app)| id == w && grant.windows.iter().any(|g| &g.app_id == app))
            });
        if !ok {
            return Err(format!(
                "restore widened access: {restored:?} from {grant:?} for {ask:?}"
            ));
        }
    }
    Ok(())
}

/// Restore data that reads back is what it encodes; nothing panics.
pub fn restore_data(rng: &mut SmallRng) -> Result<(), String> {
    let mut v = if rng.random_bool(0.3) {
        // Well-formed data, sometimes with one field of the wrong type.
        let mut data = seed_grants().grants[0].restore_data();
        data.devices = DeviceTypes::from_bits(rng.random_range(0..8)).unwrap_or(DeviceTypes::EMPTY);
        Value::from(ion_portal::restore_value::to_value(&data))
    } else {
        let depth = rng.random_range(0..6);
        super::values::value(rng, depth)
    };
    // Deep variant chains.
    let chain = if rng.random_bool(0.05) {
        rng.random_range(1..500)
    } else {
        0
    };
    for _ in 0..chain {
        v = Value::Value(Box::new(v));
    }
    let Ok(owned) = OwnedValue::try_from(v) else {
        return Ok(());
    };
    if let Some(data) = ion_portal::restore_value::from_value(&owned) {
        let again =
            ion_portal::restore_value::from_value(&ion_portal::restore_value::to_value(&data));
        if again.as_ref() != Some(&data) {
            return Err(format!(
                "restore data does not read back: {data:?} became {again:?}"
            ));
        }
    }
    Ok(())
}
