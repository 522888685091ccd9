//! Conversions between JavaScript values and Rust, in one place: typed-array copies,
//! option objects, and `LivecastError` → a thrown JS error with a `code`.

use crate::{JsErrorClass, LivecastError};
use js_sys::{Object, Reflect};
#[cfg(feature = "broadcast")]
use js_sys::{Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

impl From<LivecastError> for JsValue {
    fn from(e: LivecastError) -> Self {
        let message = e.to_string();
        let error: js_sys::Error = match e.js_class() {
            JsErrorClass::TypeError => js_sys::TypeError::new(&message).unchecked_into(),
            JsErrorClass::RangeError => js_sys::RangeError::new(&message).unchecked_into(),
            JsErrorClass::Error => js_sys::Error::new(&message),
        };
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&error, &"code".into(), &e.code().as_str().into());
        error.into()
    }
}

/// Copies a `Uint8Array` or `Uint8ClampedArray` of exactly `expected` bytes into `dst`
/// (reusing its allocation). Anything else is a `TypeError` or `RangeError` naming `what`.
#[cfg(feature = "broadcast")] // frame buffers: the encoder and the segmenter only
pub fn copy_bytes(value: &JsValue, what: &str, expected: usize, dst: &mut Vec<u8>) -> Result<(), LivecastError> {
    let len = if let Some(a) = value.dyn_ref::<Uint8Array>() {
        a.length() as usize
    } else if let Some(a) = value.dyn_ref::<Uint8ClampedArray>() {
        a.length() as usize
    } else {
        return Err(LivecastError::FrameType(format!(
            "{what} must be a Uint8Array or Uint8ClampedArray, got {}",
            type_name(value)
        )));
    };
    if len != expected {
        return Err(LivecastError::InvalidFrame(format!("{what} has {len} bytes, expected {expected}")));
    }
    dst.resize(expected, 0);
    match value.dyn_ref::<Uint8Array>() {
        Some(a) => a.copy_to(dst),
        None => value.unchecked_ref::<Uint8ClampedArray>().copy_to(dst),
    }
    Ok(())
}

/// A JS number argument, or a `TypeError` naming it.
#[cfg(feature = "broadcast")] // frame timestamps: the encoder only
pub fn number(value: &JsValue, what: &str) -> Result<f64, LivecastError> {
    value
        .as_f64()
        .ok_or_else(|| LivecastError::FrameType(format!("{what} must be a number, got {}", type_name(value))))
}

/// Reads an options object key by key, so that errors name the key: a non-object, an
/// unknown key (a typo would otherwise be silently ignored) or a value of the wrong type
/// is a `TypeError`.
pub struct OptionsReader<'a> {
    value: &'a JsValue,
    object: &'static str,
}

impl<'a> OptionsReader<'a> {
    /// Checks that `value` is an object whose own keys are all in `known`.
    pub fn new(value: &'a JsValue, object: &'static str, known: &[&str]) -> Result<Self, LivecastError> {
        let type_error = |message| LivecastError::ConfigType { object, message };
        if !value.is_object() || js_sys::Array::is_array(value) {
            return Err(type_error(format!("options must be an object, got {}", type_name(value))));
        }
        for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                return Err(type_error(format!("unknown option `{key}` (known: {})", known.join(", "))));
            }
        }
        Ok(Self { value, object })
    }

    /// A string option: `None` when absent or `undefined`, a `TypeError` when not a string.
    pub fn string(&self, key: &str) -> Result<Option<String>, LivecastError> {
        let v = Reflect::get(self.value, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or_else(|| LivecastError::ConfigType {
            object: self.object,
            message: format!("`{key}` must be a string, got {}", type_name(&v)),
        })
    }

    /// A number option: `None` when absent or `undefined`, a `TypeError` when not a number.
    pub fn number(&self, key: &str) -> Result<Option<f64>, LivecastError> {
        let v = Reflect::get(self.value, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_f64().map(Some).ok_or_else(|| LivecastError::ConfigType {
            object: self.object,
            message: format!("`{key}` must be a number, got {}", type_name(&v)),
        })
    }

    /// A boolean option: `None` when absent or `undefined`, a `TypeError` when not a boolean.
    #[cfg(feature = "broadcast")]
    pub fn bool(&self, key: &str) -> Result<Option<bool>, LivecastError> {
        let v = Reflect::get(self.value, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_bool().map(Some).ok_or_else(|| LivecastError::ConfigType {
            object: self.object,
            message: format!("`{key}` must be a boolean, got {}", type_name(&v)),
        })
    }
}

/// Builds a plain JS object from key/value pairs.
pub fn object(entries: &[(&str, JsValue)]) -> Object {
    let obj = Object::new();
    for (key, value) in entries {
        // Defining a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&obj, &(*key).into(), value);
    }
    obj
}

/// `typeof`-style name of a value for error messages (`null` and arrays told apart).
fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if js_sys::Array::is_array(value) {
        "an Array".into()
    } else if value.is_object() {
        let ctor = Reflect::get(value, &"constructor".into())
            .ok()
            .and_then(|c| Reflect::get(&c, &"name".into()).ok())
            .and_then(|n| n.as_string());
        ctor.map_or_else(|| "an object".into(), |n| format!("a {n}"))
    } else {
        value.js_typeof().as_string().unwrap_or_else(|| "an unknown value".into())
    }
}
