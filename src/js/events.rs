//! The event side of the JS classes (`Broadcaster`, `Player`, `Wallet`): one `EventTarget`
//! per object, the event names it fires, and `CustomEvent`s whose `detail` is the payload.
//! A listener for a name the object never fires is a typo, refused with the list of names.

use crate::LivecastError;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{CustomEvent, CustomEventInit, EventTarget};

#[wasm_bindgen(module = "/js/events.js")]
extern "C" {
    #[wasm_bindgen(js_name = onDetail)]
    fn on_detail(target: &EventTarget, kind: &str, callback: &Function) -> Function;
}

/// An object's events: its target, its class name (for errors) and the names it fires.
#[derive(Clone)]
pub struct Events {
    target: EventTarget,
    object: &'static str,
    known: &'static [&'static str],
}

impl Events {
    /// A fresh target for an `object` (class name) that fires the events `known`.
    pub fn new(object: &'static str, known: &'static [&'static str]) -> Result<Self, JsValue> {
        Ok(Events { target: EventTarget::new()?, object, known })
    }

    /// `Ok` for an event name this object fires.
    fn check(&self, kind: &str) -> Result<(), LivecastError> {
        if self.known.contains(&kind) {
            return Ok(());
        }
        let message = format!("unknown event `{kind}` (known: {})", self.known.join(", "));
        Err(LivecastError::ConfigType { object: self.object, message })
    }

    /// `addEventListener`: `listener` receives the `CustomEvent`.
    pub fn add(&self, kind: &str, listener: &Function) -> Result<(), JsValue> {
        self.check(kind)?;
        self.target.add_event_listener_with_callback(kind, listener)
    }

    /// `removeEventListener` (a listener never added is ignored, as by the DOM).
    pub fn remove(&self, kind: &str, listener: &Function) -> Result<(), JsValue> {
        self.target.remove_event_listener_with_callback(kind, listener)
    }

    /// hls.js-style subscription: `callback` receives the payload itself; the function
    /// returned unsubscribes.
    pub fn on(&self, kind: &str, callback: &Function) -> Result<Function, JsValue> {
        self.check(kind)?;
        Ok(on_detail(&self.target, kind, callback))
    }

    /// Fires `kind` with `detail`. Listeners run synchronously: the caller must hold no
    /// borrow they could need (clone the `Events` out first).
    pub fn dispatch(&self, kind: &str, detail: &JsValue) {
        debug_assert!(self.known.contains(&kind), "{} fires an undeclared event {kind}", self.object);
        let init = CustomEventInit::new();
        init.set_detail(detail);
        if let Ok(event) = CustomEvent::new_with_event_init_dict(kind, &init) {
            let _ = self.target.dispatch_event(&event);
        }
    }
}
