//! Consent in-process: the D-Bus layer over a peer-to-peer connection, the
//! recording stand-in for the Wayland thread (two outputs), and a chooser
//! command (a shell script speaking the consent protocol) in the dialog's
//! place. Proves the order rules → remembered grant → dialog, restore data
//! round trips, revocation, and that every bad answer is a denial.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::output;
use ion_portal::grants_iface::{GRANTS_INTERFACE, GRANTS_PATH};
use ion_portal::DESKTOP_PATH;
use ion_wayland::recording::{recording_with_outputs, Log, Recorded};
use zbus::zvariant::{ObjectPath, OwnedValue, Value};
use zbus::Connection;

const RD: &str = "org.freedesktop.impl.portal.RemoteDesktop";
const SC: &str = "org.freedesktop.impl.portal.ScreenCast";

struct World {
    client: Connection,
    _server: Connection,
    log: Log,
    dir: tempfile::TempDir,
}

/// A chooser that records each request in `asked` and answers `answer`.
fn chooser(dir: &std::path::Path, answer: &str) -> String {
    let script = dir.join("chooser.sh");
    let asked = dir.join("asked");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >> {asked}\necho >> {asked}\necho '{answer}'\n",
            asked = asked.display()
        ),
    )
    .unwrap();
    format!(
        "[dialog]\ncommand = [\"sh\", \"{}\"]\ntimeout = 10\n",
        script.display()
    )
}

async fn world(policy: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let (handle, log) = recording_with_outputs(vec![
        output(1, "HEADLESS-1", 0, 1920, 1080),
        output(2, "HEADLESS-2", 1920, 1280, 720),
    ]);
    let (client, server) = common::serve(common::config(dir.path(), 8000, 4000), handle).await;
    World {
        client,
        _server: server,
        log,
        dir,
    }
}

impl World {
    fn asked(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("asked"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn grants_file(&self) -> PathBuf {
        self.dir.path().join("data/grants.json")
    }

    async fn call<B>(&self, iface: &str, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.client
            .call_method(None::<&str>, DESKTOP_PATH, Some(iface), method, body)
            .await
    }

    async fn response<B>(&self, iface: &str, method: &str, body: &B) -> (u32, Results)
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.call(iface, method, body)
            .await
            .unwrap()
            .body()
            .deserialize()
            .unwrap()
    }

    /// A ScreenCast session: CreateSession → SelectSources (monitor,
    /// persist_mode, restore data) → Start.
    async fn screencast(
        &self,
        name: &str,
        persist: u32,
        restore: Option<&OwnedValue>,
    ) -> (u32, Results) {
        let s = session(name);
        let no: HashMap<&str, Value<'_>> = HashMap::new();
        let r = self
            .response(
                SC,
                "CreateSession",
                &(path("/r/1"), path(&s), "com.rustdesk.RustDesk", no),
            )
            .await;
        assert_eq!(r.0, 0);
        let mut o: HashMap<&str, Value<'_>> = HashMap::new();
        o.insert("types", Value::from(1u32));
        o.insert("persist_mode", Value::from(persist));
        if let Some(data) = restore {
            o.insert("restore_data", Value::from(data.try_clone().unwrap()));
        }
        let r = self
            .response(
                SC,
                "SelectSources",
                &(path("/r/2"), path(&s), "com.rustdesk.RustDesk", o),
            )
            .await;
        assert_eq!(r.0, 0);
        let no: HashMap<&str, Value<'_>> = HashMap::new();
        self.response(
            SC,
            "Start",
            &(path("/r/3"), path(&s), "com.rustdesk.RustDesk", "", no),
        )
        .await
    }

    fn streams_made(&self) -> Vec<Vec<ion_wayland::SourceRef>> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match r {
                Recorded::CreateStreams { sources, .. } => Some(sources.clone()),
                _ => None,
            })
            .collect()
    }

    async fn grants(
        &self,
        method: &str,
        body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
    ) -> zbus::Message {
        self.client
            .call_method(
                None::<&str>,
                GRANTS_PATH,
                Some(GRANTS_INTERFACE),
                method,
                body,
            )
            .await
            .unwrap()
    }
}

type Results = HashMap<String, OwnedValue>;

/// `(suv)` restore data as a frontend hands it to the backend.
fn restore_data(vendor: &str, version: u32, payload: OwnedValue) -> OwnedValue {
    let triple = zbus::zvariant::StructureBuilder::new()
        .add_field(vendor.to_string())
        .add_field(version)
        .append_field(Value::Value(Box::new(Value::from(payload))))
        .build()
        .unwrap();
    OwnedValue::try_from(Value::from(triple)).unwrap()
}

/// Start's restore data as the frontend keeps it and gives it back.
fn as_sent_back(restore: OwnedValue) -> OwnedValue {
    let (vendor, version, data): (String, u32, OwnedValue) = restore.try_into().unwrap();
    restore_data(&vendor, version, data)
}

fn path(s: &str) -> ObjectPath<'_> {
    ObjectPath::try_from(s).unwrap()
}

fn session(name: &str) -> String {
    format!("/org/freedesktop/portal/desktop/session/t/{name}")
}

const ALLOW_SECOND: &str = r#"{"allow":true,"outputs":["HEADLESS-2"],"remember":true}"#;

#[tokio::test]
async fn the_user_decides_and_a_remembered_grant_skips_the_question() {
    let w = world("").await;
    std::fs::write(
        w.dir.path().join("policy.toml"),
        chooser(w.dir.path(), ALLOW_SECOND),
    )
    .unwrap();
    let (code, results) = w.screencast("a", 2, None).await;
    assert_eq!(code, 0);
    // The user was asked about this app, with both outputs and "remember".
    let asked = w.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["app_id"], "com.rustdesk.RustDesk");
    assert_eq!(asked[0]["kind"], "screencast");
    assert_eq!(asked[0]["persist"], true);
    let names: Vec<&str> = asked[0]["sources"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["HEADLESS-1", "HEADLESS-2"]);
    // The picked output is shared, and Start hands back restore data.
    assert_eq!(
        w.streams_made(),
        vec![vec![ion_wayland::SourceRef::Output("HEADLESS-2".into())]]
    );
    assert_eq!(u32::try_from(&results["persist_mode"]).unwrap(), 2);
    let restore = results["restore_data"].try_clone().unwrap();
    let (vendor, version, _): (String, u32, OwnedValue) =
        restore.try_clone().unwrap().try_into().unwrap();
    assert_eq!((vendor.as_str(), version), ("ionchannel", 1));
    // The grant is on disk.
    let file = std::fs::read_to_string(w.grants_file()).unwrap();
    assert!(file.contains("HEADLESS-2"), "{file}");

    // Next connection with that restore data: no question, same output.
    let triple = as_sent_back(restore);
    let (code, again) = w.screencast("b", 2, Some(&triple)).await;
    assert_eq!(code, 0);
    assert_eq!(w.asked().len(), 1, "a matching restore must not ask");
    assert_eq!(w.streams_made().len(), 2);
    assert_eq!(w.streams_made()[1], w.streams_made()[0]);
    assert!(again.contains_key("restore_data"));

    // Revoking closes the running sessions under it and the token stops
    // working: the next restore asks again.
    let listed: String = w.grants("List", &()).await.body().deserialize().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let id = parsed["grants"][0]["id"].as_str().unwrap().to_string();
    let revoked: Vec<String> = w
        .grants("Revoke", &(vec![id.clone()],))
        .await
        .body()
        .deserialize()
        .unwrap();
    assert_eq!(revoked, vec![id]);
    // The stand-in records the streams' end on its own thread.
    let mut destroyed = 0;
    for _ in 0..200 {
        destroyed = w
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| matches!(r, Recorded::DestroyStreams { .. }))
            .count();
        if destroyed >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        destroyed, 2,
        "both sessions ran under the grant and must close"
    );
    let (code, _) = w.screencast("c", 2, Some(&triple)).await;
    assert_eq!(code, 0);
    assert_eq!(w.asked().len(), 2, "a revoked grant never restores");
}

#[tokio::test]
async fn without_remember_or_persist_nothing_is_stored() {
    let w = world("").await;
    std::fs::write(
        w.dir.path().join("policy.toml"),
        chooser(w.dir.path(), r#"{"allow":true,"outputs":["HEADLESS-1"]}"#),
    )
    .unwrap();
    let (code, results) = w.screencast("a", 2, None).await;
    assert_eq!(code, 0);
    assert!(!results.contains_key("restore_data"));
    assert!(!w.grants_file().exists());
    // persist_mode 0: "remember" is not even offered, and not honoured.
    std::fs::write(
        w.dir.path().join("policy.toml"),
        chooser(w.dir.path(), ALLOW_SECOND),
    )
    .unwrap();
    let (code, results) = w.screencast("b", 0, None).await;
    assert_eq!(code, 0);
    assert_eq!(w.asked().last().unwrap()["persist"], false);
    assert!(!results.contains_key("restore_data"));
    assert!(!w.grants_file().exists());
    // persist_mode 1 is remembered in memory only.
    let (code, results) = w.screencast("c", 1, None).await;
    assert_eq!(code, 0);
    assert_eq!(u32::try_from(&results["persist_mode"]).unwrap(), 1);
    assert!(!w.grants_file().exists());
}

#[tokio::test]
async fn denials_and_bad_answers_start_nothing() {
    for answer in [
        r#"{"allow":false}"#,
        r#"{"allow":true,"outputs":["DP-9"]}"#,
        r#"{"allow":true,"outputs":["HEADLESS-1","HEADLESS-2"]}"#,
        "not json",
        "",
    ] {
        let w = world("").await;
        std::fs::write(
            w.dir.path().join("policy.toml"),
            chooser(w.dir.path(), answer),
        )
        .unwrap();
        let (code, _) = w.screencast("a", 2, None).await;
        assert_eq!(code, 1, "answer {answer:?} must deny");
        assert!(
            w.streams_made().is_empty(),
            "answer {answer:?} made streams"
        );
        assert!(!w.grants_file().exists());
    }
}

#[tokio::test]
async fn restore_data_of_another_backend_asks_and_bad_persist_modes_are_refused() {
    let w = world("").await;
    std::fs::write(
        w.dir.path().join("policy.toml"),
        chooser(w.dir.path(), ALLOW_SECOND),
    )
    .unwrap();
    let foreign = restore_data("GNOME", 1, OwnedValue::from(7u32));
    let (code, _) = w.screencast("a", 2, Some(&foreign)).await;
    assert_eq!(code, 0);
    assert_eq!(w.asked().len(), 1);

    let s = session("bad");
    let no: HashMap<&str, Value<'_>> = HashMap::new();
    w.response(RD, "CreateSession", &(path("/r/1"), path(&s), "", no))
        .await;
    let mut o: HashMap<&str, Value<'_>> = HashMap::new();
    o.insert("persist_mode", Value::from(3u32));
    match w
        .call(RD, "SelectDevices", &(path("/r/2"), path(&s), "", o))
        .await
    {
        Err(zbus::Error::MethodError(name, msg, _)) => {
            assert!(name.as_str().ends_with("InvalidArgument"), "{name}");
            assert!(msg.unwrap_or_default().contains("persist_mode 3"));
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rule_decides_before_anyone_is_asked_and_a_broken_policy_denies() {
    let w = world("").await;
    let mut policy = chooser(w.dir.path(), ALLOW_SECOND);
    policy.push_str("[[allow]]\napp_id = \"com.rustdesk.RustDesk\"\nsources = [\"monitor\"]\n");
    std::fs::write(w.dir.path().join("policy.toml"), &policy).unwrap();
    let (code, results) = w.screencast("a", 2, None).await;
    assert_eq!(code, 0);
    assert!(w.asked().is_empty(), "a rule needs no question");
    assert!(!results.contains_key("restore_data"));
    // A typo in the file: everything is denied, nobody is asked.
    std::fs::write(
        w.dir.path().join("policy.toml"),
        policy.replace("sources", "source"),
    )
    .unwrap();
    let (code, _) = w.screencast("b", 2, None).await;
    assert_eq!(code, 1);
    assert!(w.asked().is_empty());
}

#[tokio::test]
async fn closing_the_request_dismisses_the_dialog() {
    dismissed_by("/r/3", "org.freedesktop.impl.portal.Request").await;
}

/// The app (or its frontend) ends the session while the user is asked: the
/// dialog goes, and Start answers cancelled. (`ionchannel-lab faults`
/// found a dialog left on screen after its session closed.)
#[tokio::test]
async fn closing_the_session_dismisses_the_dialog() {
    dismissed_by(&session("a"), "org.freedesktop.impl.portal.Session").await;
}

/// A Start waiting for a chooser that never answers; `Close` at `at` on
/// `iface` must end it and the chooser.
async fn dismissed_by(at: &str, iface: &str) {
    let w = world("").await;
    // A chooser that shows itself (its pid) and waits for a user who never
    // comes.
    let pid_file = w.dir.path().join("chooser.pid");
    let script = w.dir.path().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 30\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::write(
        w.dir.path().join("policy.toml"),
        format!("[dialog]\ncommand = [\"sh\", \"{}\"]\n", script.display()),
    )
    .unwrap();
    let s = session("a");
    let no: HashMap<&str, Value<'_>> = HashMap::new();
    w.response(SC, "CreateSession", &(path("/r/1"), path(&s), "app", no))
        .await;
    let mut o: HashMap<&str, Value<'_>> = HashMap::new();
    o.insert("types", Value::from(1u32));
    w.response(SC, "SelectSources", &(path("/r/2"), path(&s), "app", o))
        .await;
    let client = w.client.clone();
    let start = tokio::spawn(async move {
        let no: HashMap<&str, Value<'_>> = HashMap::new();
        let reply: (u32, Results) = client
            .call_method(
                None::<&str>,
                DESKTOP_PATH,
                Some(SC),
                "Start",
                &(path("/r/3"), path(&session("a")), "app", "", no),
            )
            .await
            .unwrap()
            .body()
            .deserialize()
            .unwrap();
        reply.0
    });
    let mut pid = None;
    for _ in 0..500 {
        if let Some(p) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            pid = Some(p);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pid = pid.expect("the chooser must be asked");
    w.client
        .call_method(None::<&str>, at, Some(iface), "Close", &())
        .await
        .unwrap();
    // At once, not when the chooser gives up (30 s).
    let code = tokio::time::timeout(std::time::Duration::from_secs(5), start)
        .await
        .expect("Start must answer once the close comes")
        .unwrap();
    assert_eq!(code, 1, "Start is cancelled");
    let mut gone = false;
    for _ in 0..200 {
        // Gone, or a zombie waiting for tokio's reaper: either way dead.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.is_empty() || status.contains("State:\tZ") {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(gone, "the dialog must be dismissed when the request closes");
    assert!(w.streams_made().is_empty());
}

#[tokio::test]
async fn the_user_is_asked_only_about_devices_the_compositor_has() {
    let w = world("").await;
    std::fs::write(
        w.dir.path().join("policy.toml"),
        chooser(w.dir.path(), r#"{"allow":true}"#),
    )
    .unwrap();
    let s = session("rd");
    let no: HashMap<&str, Value<'_>> = HashMap::new();
    w.response(RD, "CreateSession", &(path("/r/1"), path(&s), "", no))
        .await;
    let mut o: HashMap<&str, Value<'_>> = HashMap::new();
    // Keyboard, pointer and touchscreen; the stand-in has no touch.
    o.insert("types", Value::from(7u32));
    w.response(RD, "SelectDevices", &(path("/r/2"), path(&s), "", o))
        .await;
    let no: HashMap<&str, Value<'_>> = HashMap::new();
    let (code, results) = w
        .response(RD, "Start", &(path("/r/3"), path(&s), "", "", no))
        .await;
    assert_eq!(code, 0);
    assert_eq!(u32::try_from(&results["devices"]).unwrap(), 3);
    let asked = w.asked();
    assert_eq!(asked[0]["kind"], "remote_desktop");
    assert_eq!(
        asked[0]["devices"],
        serde_json::json!(["keyboard", "pointer"])
    );
    assert_eq!(asked[0]["sources"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_rule_with_persist_hands_out_a_token_that_outlives_it() {
    let w = world("").await;
    let deny = chooser(w.dir.path(), r#"{"allow":false}"#);
    std::fs::write(
        w.dir.path().join("policy.toml"),
        format!("{deny}[[allow]]\napp_id = \"com.rustdesk.RustDesk\"\nsources = [\"monitor\"]\npersist = true\n"),
    )
    .unwrap();
    let (code, results) = w.screencast("a", 2, None).await;
    assert_eq!(code, 0);
    assert!(w.asked().is_empty());
    assert_eq!(u32::try_from(&results["persist_mode"]).unwrap(), 2);
    let restore = results["restore_data"].try_clone().unwrap();
    // An app that does not ask to persist gets no token from the rule.
    let (code, results) = w.screencast("c", 0, None).await;
    assert_eq!(code, 0);
    assert!(!results.contains_key("restore_data"));
    // The rule goes; the token still restores, without asking.
    std::fs::write(w.dir.path().join("policy.toml"), &deny).unwrap();
    let triple = as_sent_back(restore);
    let (code, _) = w.screencast("b", 2, Some(&triple)).await;
    assert_eq!(code, 0);
    assert!(w.asked().is_empty());
    assert_eq!(w.streams_made()[2], w.streams_made()[0]);
}
