//! Rendering a capture source with smithay's pixman renderer and damage
//! tracker into the session's own image, and copying that into the
//! client's shm buffer.

use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::surface::WaylandSurfaceRenderElement;
use smithay::backend::renderer::element::AsRenderElements;
use smithay::backend::renderer::pixman::{PixmanError, PixmanRenderer};
use smithay::backend::renderer::{Bind, ExportMem, Offscreen};
use smithay::desktop::space::render_output;
use smithay::reexports::pixman::Image;
use smithay::reexports::wayland_server::protocol::{wl_buffer::WlBuffer, wl_shm};
use smithay::utils::{Buffer, Physical, Rectangle, Scale, Size, Transform};
use smithay::wayland::shm::{shm_format_to_fourcc, with_buffer_contents_mut};

use super::session::Session;
use super::CaptureSource;
use crate::state::State;

/// Output captures are on black (cosmic-comp's background would be its
/// wallpaper); window captures on transparent.
const OUTPUT_CLEAR: [f32; 4] = [0.0, 0.0, 0.0, 1.0];
const WINDOW_CLEAR: [f32; 4] = [0.0, 0.0, 0.0, 0.0];

/// A session's render target, kept between frames so the damage tracker
/// can tell what changed.
pub struct Target {
    image: Image<'static, 'static>,
    format: Fourcc,
    tracker: Option<OutputDamageTracker>,
    rendered: bool,
}

pub enum RenderOutcome {
    /// Nothing changed since the session's last frame: keep waiting.
    Unchanged,
    /// Copied into the client's buffer; the damage, in buffer coordinates.
    Copied(Vec<Rectangle<i32, Buffer>>),
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("pixman: {0}")]
    Pixman(#[from] PixmanError),
    #[error("damage tracker: {0}")]
    Damage(String),
    #[error("format {0:?} has no fourcc")]
    Format(wl_shm::Format),
    #[error("the source is gone")]
    SourceGone,
    #[error("the client's buffer: {0}")]
    Buffer(String),
}

/// Physical damage in the upright (logical) orientation, as smithay's
/// damage tracker reports it, to buffer coordinates of a buffer of `size`
/// with `transform`.
fn to_buffer_damage(
    damage: &[Rectangle<i32, Physical>],
    size: Size<i32, Buffer>,
    transform: Transform,
) -> Vec<Rectangle<i32, Buffer>> {
    let upright = transform.transform_size(Size::<i32, Physical>::from((size.w, size.h)));
    let area = upright.to_logical(1);
    let bounds = Rectangle::<i32, Buffer>::from_size(size);
    // smithay's `to_buffer` takes a buffer transform (wl_surface's sense);
    // an output's transform goes the other way round from the upright
    // picture to its buffer.
    let transform = transform.invert();
    damage
        .iter()
        .filter_map(|r| {
            r.to_logical(1)
                .to_buffer(1, transform, &area)
                .intersection(bounds)
        })
        .collect()
}

impl State {
    /// Renders the session's source into its image; if anything changed
    /// (or nothing was ever copied), copies the image into `buffer`.
    pub fn render_session(
        &mut self,
        session: &mut Session,
        format: wl_shm::Format,
        buffer: &WlBuffer,
    ) -> Result<RenderOutcome, RenderError> {
        let fourcc = shm_format_to_fourcc(format).ok_or(RenderError::Format(format))?;
        let size = session.size.ok_or(RenderError::SourceGone)?;
        if session.target.as_ref().is_none_or(|t| t.format != fourcc) {
            let image = Offscreen::<Image<'static, 'static>>::create_buffer(
                &mut self.renderer,
                fourcc,
                size,
            )?;
            session.target = Some(Target {
                image,
                format: fourcc,
                tracker: None,
                rendered: false,
            });
        }
        let Some(target) = session.target.as_mut() else {
            return Err(RenderError::SourceGone);
        };
        let age = usize::from(target.rendered);
        // A window source's window and scale, looked up before the
        // renderer is borrowed.
        let window = match &session.source {
            CaptureSource::Toplevel(identifier) => identifier
                .as_deref()
                .and_then(|id| self.toplevels.by_identifier(id))
                .map(|m| m.window.clone())
                .map(|w| {
                    let scale = self.toplevel_scale(&w);
                    (w, scale)
                }),
            CaptureSource::Output(_) => None,
        };
        let renderer: &mut PixmanRenderer = &mut self.renderer;
        let mut fb = renderer.bind(&mut target.image)?;

        let damage: Vec<Rectangle<i32, Buffer>> = if session.cursor {
            // No cursor, ever: the image stays transparent (created
            // cleared); only the first frame has something to say.
            if target.rendered {
                Vec::new()
            } else {
                vec![Rectangle::from_size(size)]
            }
        } else {
            match &session.source {
                CaptureSource::Output(weak) => {
                    let output = weak.upgrade().ok_or(RenderError::SourceGone)?;
                    let tracker = target
                        .tracker
                        .get_or_insert_with(|| OutputDamageTracker::from_output(&output));
                    let result =
                        render_output::<_, WaylandSurfaceRenderElement<PixmanRenderer>, _, _>(
                            &output,
                            renderer,
                            &mut fb,
                            1.0,
                            age,
                            [&self.space],
                            &[],
                            tracker,
                            OUTPUT_CLEAR,
                        )
                        .map_err(|e| RenderError::Damage(e.to_string()))?;
                    result
                        .damage
                        .map(|d| to_buffer_damage(d, size, output.current_transform()))
                        .unwrap_or_default()
                }
                CaptureSource::Toplevel(_) => {
                    let (window, scale) = window.ok_or(RenderError::SourceGone)?;
                    let geo_loc = window.geometry().loc;
                    let loc = smithay::utils::Point::<i32, smithay::utils::Logical>::from((
                        -geo_loc.x, -geo_loc.y,
                    ))
                    .to_f64()
                    .to_physical_precise_round(scale);
                    let elements: Vec<WaylandSurfaceRenderElement<PixmanRenderer>> =
                        window.render_elements(renderer, loc, Scale::from(scale), 1.0);
                    let tracker = target.tracker.get_or_insert_with(|| {
                        OutputDamageTracker::new((size.w, size.h), scale, Transform::Normal)
                    });
                    let result = tracker
                        .render_output(renderer, &mut fb, age, &elements, WINDOW_CLEAR)
                        .map_err(|e| RenderError::Damage(e.to_string()))?;
                    result
                        .damage
                        .map(|d| to_buffer_damage(d, size, Transform::Normal))
                        .unwrap_or_default()
                }
            }
        };
        target.rendered = true;
        if damage.is_empty() && session.captured_once {
            return Ok(RenderOutcome::Unchanged);
        }

        let mapping = renderer.copy_framebuffer(&fb, Rectangle::from_size(size), fourcc)?;
        let pixels = renderer.map_texture(&mapping)?;
        copy_into_shm(pixels, size, buffer)?;
        Ok(RenderOutcome::Copied(damage))
    }
}

/// Copies tightly packed rows of 4-byte pixels into a shm buffer of the
/// same size and format (its own stride and offset).
fn copy_into_shm(
    pixels: &[u8],
    size: Size<i32, Buffer>,
    buffer: &WlBuffer,
) -> Result<(), RenderError> {
    let (w, h) = (size.w as usize, size.h as usize);
    if h == 0 || pixels.len() < w * 4 * h {
        return Err(RenderError::Buffer("short render".into()));
    }
    let src_stride = pixels.len() / h;
    with_buffer_contents_mut(buffer, |ptr, len, data| {
        let (offset, stride) = (data.offset as usize, data.stride as usize);
        if offset + stride * (h - 1) + w * 4 > len {
            return Err(RenderError::Buffer("pool too small".into()));
        }
        // SAFETY: smithay gives us the client's pool mapping, valid and
        // writable for `len` bytes for the duration of this closure (a
        // client truncating its file under us is caught by smithay's
        // SIGBUS handling). Nothing else accesses it meanwhile: this
        // thread is the only one and no other reference to it exists.
        let dst = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        for row in 0..h {
            let s = row * src_stride;
            let d = offset + row * stride;
            dst[d..d + w * 4].copy_from_slice(&pixels[s..s + w * 4]);
        }
        Ok(())
    })
    .map_err(|e| RenderError::Buffer(e.to_string()))?
}
