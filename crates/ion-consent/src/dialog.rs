//! The GTK 4 window: shows the request's wording and choice, and ends with
//! the user's answer, or with none when a signal stops it.
//!
//! The outcome lives in one cell that the first decision fills (Allow,
//! Deny, Escape, closing the window); `main.rs` prints it after the main
//! loop returned, so there is exactly one place that writes the answer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gtk::prelude::*;
use gtk::{gdk, gio, glib};
use ion_core::consent::{ConsentAnswer, ConsentRequest};

use crate::choice::{self, Entry};
use crate::wording::{self, Wording};

/// The toplevel's app id (also the GApplication id).
pub const APP_ID: &str = "org.ionchannel.Consent";

/// The height (pixels) past which the choice scrolls instead of growing
/// the window: a long list of windows must not push the buttons off screen.
const CHOICE_MAX_HEIGHT: i32 = 320;

/// Why the dialog could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum DialogError {
    #[error("cannot initialise GTK (no Wayland or X11 display?): {0}")]
    Init(#[from] glib::BoolError),
    #[error("GTK ended with exit code {0}")]
    Gtk(u8),
}

type Outcome = Rc<RefCell<Option<ConsentAnswer>>>;

/// Shows the dialog for `request` and runs until the user decided (the
/// answer) or SIGTERM, SIGINT or SIGHUP arrived (`None`: the daemon gave
/// up on the request, and no answer must be printed).
pub fn run(request: &ConsentRequest) -> Result<Option<ConsentAnswer>, DialogError> {
    gtk::init()?;
    // NON_UNIQUE: two requests may be shown at once; a unique application
    // would hand the second to the first process and exit.
    let app = gtk::Application::builder()
        .application_id(APP_ID)
        .flags(gio::ApplicationFlags::NON_UNIQUE)
        .build();
    let outcome: Outcome = Rc::default();
    // Set by a signal: then no answer at all, even one the user gave in
    // the instant before (the daemon has stopped listening).
    let stopped = Rc::new(Cell::new(false));
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let app = app.downgrade();
        let stopped = stopped.clone();
        glib::unix_signal_add_local(signal, move || {
            tracing::info!(signal, "stopped by a signal: no answer");
            stopped.set(true);
            if let Some(app) = app.upgrade() {
                app.quit();
            }
            glib::ControlFlow::Break
        });
    }
    let request = request.clone();
    let shown = outcome.clone();
    app.connect_activate(move |app| build(app, &request, &shown));
    // No arguments for GTK to parse: the daemon passes none, and the
    // request comes on stdin.
    let code = app.run_with_args::<&str>(&[]);
    if code != glib::ExitCode::SUCCESS {
        return Err(DialogError::Gtk(code.get()));
    }
    if stopped.get() {
        return Ok(None);
    }
    Ok(outcome.take())
}

/// Fills the outcome; the first decision wins.
fn record(outcome: &Outcome, answer: ConsentAnswer) {
    let mut slot = outcome.borrow_mut();
    if slot.is_none() {
        tracing::info!(allow = answer.allow, "decided");
        *slot = Some(answer);
    }
}

/// Records the decision and closes the window (without `close-request`),
/// which ends the application.
fn decide(window: &gtk::ApplicationWindow, outcome: &Outcome, answer: ConsentAnswer) {
    record(outcome, answer);
    window.destroy();
}

fn build(app: &gtk::Application, request: &ConsentRequest, outcome: &Outcome) {
    let text = wording::wording(request);
    let entries = choice::entries(request);
    let window = gtk::ApplicationWindow::builder()
        .application(app)
        .title(text.title.as_str())
        // A fixed size makes tiling compositors (sway) float the dialog
        // instead of stretching it over a whole output.
        .resizable(false)
        .build();

    let content = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(12)
        .margin_top(18)
        .margin_bottom(18)
        .margin_start(18)
        .margin_end(18)
        .width_request(420)
        .build();
    content.append(&what_is_asked(&text));

    let rows = source_rows(request, &entries, &text, &content);
    // Ticked at first, as the first source is: the person unticks it to
    // allow the rest without the clipboard.
    let clipboard = text.clipboard.as_deref().map(|label| {
        let check = gtk::CheckButton::with_label(label);
        check.set_active(true);
        content.append(&check);
        check
    });
    let remember = request.persist.then(|| {
        let check = gtk::CheckButton::with_label(wording::REMEMBER);
        content.append(&check);
        check
    });

    let buttons = gtk::Box::builder()
        .orientation(gtk::Orientation::Horizontal)
        .spacing(6)
        .halign(gtk::Align::End)
        .margin_top(6)
        .build();
    let deny = gtk::Button::with_label(wording::DENY);
    // Neither button is highlighted (no "suggested-action"): the dialog
    // does not nudge the user towards granting.
    let allow = gtk::Button::with_label(text.allow.as_str());
    buttons.append(&deny);
    buttons.append(&allow);
    content.append(&buttons);
    window.set_child(Some(&content));

    let ticked = {
        let rows = rows.clone();
        move || rows.iter().map(|r| r.is_active()).collect::<Vec<bool>>()
    };
    // Allow only while the answer would be valid (a source ticked when
    // sources were asked for): with check buttons the user can untick all.
    let update_allow = {
        let (allow, request, ticked) = (allow.clone(), request.clone(), ticked.clone());
        move || allow.set_sensitive(choice::can_allow(&request, &ticked()))
    };
    update_allow();
    for row in &rows {
        let update_allow = update_allow.clone();
        row.connect_toggled(move |_| update_allow());
    }

    {
        let (window, outcome) = (window.clone(), outcome.clone());
        let persist = request.persist;
        allow.connect_clicked(move |_| {
            let remember = remember.as_ref().is_some_and(|c| c.is_active());
            let clipboard = clipboard.as_ref().map(|c| c.is_active());
            let answer = choice::allow(&entries, &ticked(), remember, persist, clipboard);
            decide(&window, &outcome, answer);
        });
    }
    {
        let (window, outcome) = (window.clone(), outcome.clone());
        deny.connect_clicked(move |_| decide(&window, &outcome, ConsentAnswer::deny()));
    }
    {
        let outcome = outcome.clone();
        // The window manager's close button: a denial; GTK then destroys
        // the window itself.
        window.connect_close_request(move |_| {
            record(&outcome, ConsentAnswer::deny());
            glib::Propagation::Proceed
        });
    }
    let keys = gtk::EventControllerKey::new();
    {
        let (window, outcome) = (window.clone(), outcome.clone());
        keys.connect_key_pressed(move |_, key, code, _| {
            tracing::debug!(?key, code, "key pressed");
            if key == gdk::Key::Escape {
                decide(&window, &outcome, ConsentAnswer::deny());
                glib::Propagation::Stop
            } else {
                glib::Propagation::Proceed
            }
        });
    }
    window.add_controller(keys);

    // Deny has the focus at first, and there is no default button: a
    // dialog that pops up while the user is typing elsewhere must not be
    // granted by a stray Enter or space. Tab reaches the choice and Allow.
    GtkWindowExt::set_focus(&window, Some(&deny));
    window.present();
    tracing::debug!(title = %text.title, rows = rows.len(), "dialog shown");
}

/// The heading and one line per thing asked for.
fn what_is_asked(text: &Wording) -> gtk::Box {
    let block = gtk::Box::new(gtk::Orientation::Vertical, 6);
    // Markup rather than a style class: GTK's own theme has no heading
    // classes (those are libadwaita's). The app id is escaped: it is the
    // app's own choice of text.
    let heading = gtk::Label::builder()
        .label(format!(
            "<span size=\"large\" weight=\"bold\">{}</span>",
            glib::markup_escape_text(&text.heading)
        ))
        .use_markup(true)
        .xalign(0.0)
        .wrap(true)
        .build();
    block.append(&heading);
    for want in &text.wants {
        let line = gtk::Label::builder()
            .label(format!("•  {want}"))
            .xalign(0.0)
            .wrap(true)
            .margin_start(12)
            .build();
        block.append(&line);
    }
    block
}

/// Appends the choice of sources to `content` and returns its buttons,
/// one per entry: radio buttons (one group) unless `multiple`, check
/// buttons otherwise. The first is ticked.
fn source_rows(
    request: &ConsentRequest,
    entries: &[Entry],
    text: &Wording,
    content: &gtk::Box,
) -> Vec<gtk::CheckButton> {
    if let Some(nothing) = &text.nothing_to_share {
        content.append(
            &gtk::Label::builder()
                .label(nothing.as_str())
                .xalign(0.0)
                .wrap(true)
                .build(),
        );
    }
    let (Some(heading), Some(sources)) = (&text.sources_heading, &request.sources) else {
        return Vec::new();
    };
    content.append(
        &gtk::Label::builder()
            .label(heading.as_str())
            .xalign(0.0)
            .build(),
    );
    let list = gtk::Box::new(gtk::Orientation::Vertical, 4);
    list.set_margin_start(12);
    let mut rows: Vec<gtk::CheckButton> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let row = gtk::CheckButton::with_label(&entry.label);
        if !sources.multiple {
            if let Some(first) = rows.first() {
                row.set_group(Some(first));
            }
        }
        row.set_active(i == 0);
        list.append(&row);
        rows.push(row);
    }
    let scroller = gtk::ScrolledWindow::builder()
        .hscrollbar_policy(gtk::PolicyType::Never)
        .propagate_natural_height(true)
        .max_content_height(CHOICE_MAX_HEIGHT)
        .child(&list)
        .build();
    content.append(&scroller);
    rows
}
