//! EIP-1193 providers: calling `request`, turning their errors into Livecast errors, and
//! finding them in the page (EIP-6963 announcements, `window.ethereum` as a fallback).

use crate::{ErrorCode, LivecastError};
use js_sys::{Array, Function, Object, Promise, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// EIP-1193: the user rejected the request.
pub const USER_REJECTED: i64 = 4001;
/// EIP-1193: the method or account is not authorised by the user.
pub const UNAUTHORIZED: i64 = 4100;
/// EIP-1193: the provider is disconnected from all chains.
pub const DISCONNECTED: i64 = 4900;
/// EIP-1193: the provider is not connected to the requested chain.
pub const CHAIN_DISCONNECTED: i64 = 4901;
/// EIP-3326: the chain has not been added to the wallet.
pub const UNRECOGNIZED_CHAIN: i64 = 4902;

/// A failed `request`: the provider's numeric code (when it gave one) and message.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// EIP-1193 / JSON-RPC code; some wallets nest it in `data.originalError.code`.
    pub code: Option<i64>,
    /// The provider's message.
    pub message: String,
}

impl RpcError {
    /// Reads a thrown value (`{ code, message, data }` or anything else).
    pub fn from_js(e: &JsValue) -> Self {
        let num = |v: &JsValue, k: &str| Reflect::get(v, &k.into()).ok().and_then(|c| c.as_f64()).map(|c| c as i64);
        let nested = Reflect::get(e, &"data".into())
            .ok()
            .and_then(|d| Reflect::get(&d, &"originalError".into()).ok())
            .and_then(|o| num(&o, "code"));
        let message = Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"));
        Self { code: nested.filter(|c| *c == UNRECOGNIZED_CHAIN).or_else(|| num(e, "code")).or(nested), message }
    }

    /// The Livecast error for a failed `method`: rejections are `USER_REJECTED`, a gone
    /// provider is `WALLET_MISSING`, anything else `WALLET_ERROR`.
    pub fn into_error(self, method: &str) -> LivecastError {
        let (code, hint) = match self.code {
            Some(USER_REJECTED) => (ErrorCode::UserRejected, "the user rejected it in the wallet"),
            Some(UNAUTHORIZED) => (ErrorCode::UserRejected, "the wallet has not authorised this page: connect first"),
            Some(DISCONNECTED | CHAIN_DISCONNECTED) => (ErrorCode::WalletMissing, "the wallet is disconnected"),
            _ => (ErrorCode::WalletError, "the wallet or its node failed"),
        };
        let code_text = self.code.map_or(String::new(), |c| format!(" (code {c})"));
        wallet_error(code, format!("{method}: {hint}: {}{code_text}", self.message))
    }
}

/// A wallet error with `code`.
pub fn wallet_error(code: ErrorCode, message: impl Into<String>) -> LivecastError {
    LivecastError::Broadcast { code, message: message.into() }
}

/// An EIP-1193 provider object: anything with a `request({ method, params })` method.
#[derive(Clone)]
pub struct Provider {
    object: JsValue,
    request: Function,
}

impl Provider {
    /// Wraps `object`; a `TypeError` when it has no `request` function.
    pub fn new(object: JsValue) -> Result<Self, LivecastError> {
        let request = Reflect::get(&object, &"request".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| LivecastError::ConfigType { object: "Wallet", message: "the provider must be an EIP-1193 provider (an object with a `request` method)".into() })?;
        Ok(Self { object, request })
    }

    /// The provider object itself.
    pub fn object(&self) -> &JsValue {
        &self.object
    }

    /// `request({ method, params })` with JS values; the raw answer or the provider's error.
    pub async fn request_js(&self, method: &str, params: &JsValue) -> Result<JsValue, RpcError> {
        let args = Object::new();
        let _ = Reflect::set(&args, &"method".into(), &method.into());
        if !params.is_undefined() {
            let _ = Reflect::set(&args, &"params".into(), params);
        }
        let answer = self.request.call1(&self.object, &args).map_err(|e| RpcError::from_js(&e))?;
        let promise = Promise::resolve(&answer);
        JsFuture::from(promise).await.map_err(|e| RpcError::from_js(&e))
    }

    /// `request` with serde values in and out (plain objects, `0x` strings).
    pub async fn request<T: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> Result<T, LivecastError> {
        let params = to_js(&params).map_err(|e| wallet_error(ErrorCode::WalletError, format!("{method}: {e}")))?;
        let answer = self.request_js(method, &params).await.map_err(|e| e.into_error(method))?;
        serde_wasm_bindgen::from_value(answer)
            .map_err(|e| wallet_error(ErrorCode::WalletError, format!("{method}: the wallet answered something unexpected: {e}")))
    }

    /// Subscribes `callback` to provider event `name` when the provider has `on`; returns
    /// what unsubscribes it (`removeListener`), if anything does.
    pub fn subscribe(&self, name: &str, callback: &Function) -> Option<Function> {
        let on = Reflect::get(&self.object, &"on".into()).ok()?.dyn_into::<Function>().ok()?;
        on.call2(&self.object, &name.into(), callback).ok()?;
        let remove = Reflect::get(&self.object, &"removeListener".into()).ok()?.dyn_into::<Function>().ok()?;
        let (object, name, callback) = (self.object.clone(), JsValue::from(name), callback.clone());
        let unsubscribe = Closure::once_into_js(move || {
            let _ = remove.call2(&object, &name, &callback);
        });
        unsubscribe.dyn_into::<Function>().ok()
    }
}

/// A serde value as a plain JS value (maps as objects, u64 as numbers).
pub fn to_js(value: &impl Serialize) -> Result<JsValue, serde_wasm_bindgen::Error> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
}

/// Every provider the page announces over EIP-6963 within `wait_ms`, in announcement order
/// (one per `info.uuid`), or `window.ethereum` when none announces itself. Each entry is
/// `{ info: { uuid, name, icon, rdns }, provider }`.
pub async fn discover(wait_ms: f64) -> Result<Array, LivecastError> {
    let window = web_sys::window().ok_or_else(|| wallet_error(ErrorCode::WalletMissing, "wallets are found in a page (window), not in a worker"))?;
    let found = Rc::new(RefCell::new(Vec::<(String, JsValue)>::new()));
    let sink = found.clone();
    let on_announce = Closure::<dyn FnMut(web_sys::CustomEvent)>::new(move |event: web_sys::CustomEvent| {
        let detail = event.detail();
        let info = Reflect::get(&detail, &"info".into()).unwrap_or(JsValue::UNDEFINED);
        let provider = Reflect::get(&detail, &"provider".into()).unwrap_or(JsValue::UNDEFINED);
        let uuid = Reflect::get(&info, &"uuid".into()).ok().and_then(|u| u.as_string());
        let has_request = Reflect::get(&provider, &"request".into()).map(|f| f.is_function()).unwrap_or(false);
        if let (Some(uuid), true) = (uuid, has_request) {
            let mut list = sink.borrow_mut();
            if !list.iter().any(|(u, _)| *u == uuid) {
                list.push((uuid, detail));
            }
        }
    });
    let handler: &Function = on_announce.as_ref().unchecked_ref();
    window
        .add_event_listener_with_callback("eip6963:announceProvider", handler)
        .map_err(|_| wallet_error(ErrorCode::WalletMissing, "cannot listen for EIP-6963 announcements"))?;
    if let Ok(request) = web_sys::Event::new("eip6963:requestProvider") {
        let _ = window.dispatch_event(&request);
    }
    // Providers answer synchronously as a rule; the wait covers extensions that do not.
    let wait = Promise::new(&mut |resolve, _| {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, wait_ms.clamp(0.0, 10_000.0) as i32);
    });
    let _ = JsFuture::from(wait).await;
    let _ = window.remove_event_listener_with_callback("eip6963:announceProvider", handler);
    drop(on_announce);

    let out = Array::new();
    for (_, detail) in found.borrow().iter() {
        let entry = Object::new();
        let _ = Reflect::set(&entry, &"info".into(), &Reflect::get(detail, &"info".into()).unwrap_or(JsValue::UNDEFINED));
        let _ = Reflect::set(&entry, &"provider".into(), &Reflect::get(detail, &"provider".into()).unwrap_or(JsValue::UNDEFINED));
        out.push(&entry);
    }
    if out.length() == 0 {
        let injected = Reflect::get(&window, &"ethereum".into()).unwrap_or(JsValue::UNDEFINED);
        if Reflect::get(&injected, &"request".into()).map(|f| f.is_function()).unwrap_or(false) {
            let info = super::super::interop::object(&[
                ("uuid", "window.ethereum".into()),
                ("name", "Injected wallet (window.ethereum)".into()),
                ("icon", "".into()),
                ("rdns", "".into()),
            ]);
            out.push(&super::super::interop::object(&[("info", info.into()), ("provider", injected)]));
        }
    }
    Ok(out)
}
