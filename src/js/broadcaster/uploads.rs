//! The broadcaster's uploads: the queue pumped one segment at a time, each upload's attempts
//! (retries, node failover) executed from [`crate::broadcast::attempt`]'s actions, the
//! acknowledgement events, the drain that `stop()` waits for, and the HTTP calls.

use super::*;

/// Starts the upload loop unless it runs already.
pub(super) fn pump_uploads(inner: &Shared) {
    if std::mem::replace(&mut inner.borrow_mut().uploading, true) {
        return;
    }
    let inner = inner.clone();
    spawn_local(async move {
        loop {
            let next = inner.borrow_mut().queue.pop();
            let Some(segment) = next else { break };
            if inner.borrow().state == State::Ended {
                break;
            }
            inner.borrow_mut().uploading_seq = Some(segment.seq);
            upload_segment(&inner, segment).await;
            inner.borrow_mut().uploading_seq = None;
        }
        inner.borrow_mut().uploading = false;
        check_drained(&inner);
    });
}

/// Uploads one segment: performs what its [`SegmentUpload`] decides (which node, retries
/// with backoff, failover, gaps; the rules are in `broadcast::attempt`) with `fetch`,
/// timers and events.
pub(super) async fn upload_segment(inner: &Shared, segment: PendingSegment) {
    let (url, key, policy) = {
        let i = inner.borrow();
        (format!("{}/live/{}/{}.ts", i.options.relay_url, i.options.stream_id, segment.seq), i.options.stream_key.clone(), i.policy.clone())
    };
    let body = Uint8Array::from(segment.data.as_slice());
    let mut upload = SegmentUpload::new(segment.seq, policy);
    'attempts: loop {
        let mut headers = vec![
            ("Content-Type", "video/mp2t".to_string()),
            ("Content-Duration", segment.duration_ms.to_string()),
            ("Livecast-Capture-Start", format!("{}", segment.capture_start_ms.round())),
        ];
        let choose_node = upload.begin();
        let mut prepared = None;
        if choose_node {
            match node_headers(inner, &segment, upload.tried()).await {
                Ok(Some((uri, header, payment))) => {
                    if let Some((p, payment_header)) = payment {
                        headers.push((livecast_protocol::PAYMENT_HEADER, payment_header));
                        prepared = Some(p);
                    }
                    headers.push((livecast_protocol::SEGMENT_HEADER, header));
                    headers.push(("Livecast-Transcoder", uri.clone()));
                    upload.through(&uri);
                }
                Ok(None) => {}
                Err((uri, error)) => {
                    // This node cannot be paid (or the wallet refused to sign).
                    let actions = {
                        let mut i = inner.borrow_mut();
                        let session = i.transcode.as_mut().expect("a node was chosen from the session");
                        upload.node_unpayable(&uri, error.code(), &error.to_string(), session)
                    };
                    if perform(inner, &segment, &key, &actions, &JsValue::NULL, None, 0.0).await == Outcome::TryAgain {
                        continue 'attempts;
                    }
                }
            }
        }
        let node = upload.node().map(str::to_owned);
        let started = now_ms();
        let answer = http_put(&url, &key, &body, &headers).await;
        let upload_ms = now_ms() - started;
        let status = answer.as_ref().map(|(s, _)| *s);
        let json = answer.as_ref().and_then(|(_, text)| js_sys::JSON::parse(text).ok()).unwrap_or(JsValue::NULL);
        let relay_error: Option<livecast_api::ErrorBody> = if json.is_null() { None } else { serde_wasm_bindgen::from_value(json.clone()).ok() };
        let actions = {
            let (ended, others_waiting) = {
                let i = inner.borrow();
                (i.state == State::Ended, !i.queue.is_empty())
            };
            let facts = Answer { status, error: relay_error.as_ref(), upload_ms, ended, others_waiting, random: js_sys::Math::random() };
            let mut i = inner.borrow_mut();
            upload.answered(facts, i.transcode.as_mut())
        };
        let paid = node.as_deref().zip(prepared.as_ref());
        match perform(inner, &segment, &key, &actions, &json, paid, upload_ms).await {
            Outcome::TryAgain => continue 'attempts,
            Outcome::Done => return,
        }
    }
}

/// Whether a segment's upload goes on after its actions.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    TryAgain,
    Done,
}

/// Performs a [`SegmentUpload`]'s actions, in order. `json` is the relay's answer and
/// `paid` the node and payment this attempt carried (for the `segment` event).
pub(super) async fn perform(inner: &Shared, segment: &PendingSegment, key: &str, actions: &[UploadAction], json: &JsValue, paid: Option<(&str, &Prepared)>, upload_ms: f64) -> Outcome {
    let mut outcome = Outcome::Done;
    for action in actions {
        match action {
            UploadAction::Report { code, message, status } => emit_error(inner, *code, message.clone(), false, Some(segment.seq), *status),
            UploadAction::RefreshNodes => {
                if let Err(e) = refresh_transcoders(inner).await {
                    emit_error(inner, e.code(), e.to_string(), false, Some(segment.seq), None);
                }
            }
            UploadAction::TryNextNode => outcome = Outcome::TryAgain,
            UploadAction::RetryAfter { delay_ms } => {
                if inner.borrow().state == State::Live {
                    set_state(inner, State::Reconnecting);
                }
                let _ = JsFuture::from(sleep(*delay_ms)).await;
                outcome = Outcome::TryAgain;
            }
            UploadAction::MarkGap => give_up_transcoding(inner, segment, key).await,
            UploadAction::Acknowledge { attempts, transcoder } => {
                // (An error body, or no body, has no renditions: the event lists none.)
                let renditions = if json.is_object() { Reflect::get(json, &"renditions".into()).unwrap_or(JsValue::NULL) } else { JsValue::NULL };
                let payment = transcoder.as_deref().and_then(|uri| settle_payment(inner, Some(uri), paid.filter(|(u, _)| *u == uri).map(|(_, p)| p), json));
                acknowledge(inner, segment, upload_ms, *attempts, transcoder.as_deref(), &renditions, payment);
            }
            UploadAction::Drop => inner.borrow_mut().stats.segment_dropped(),
            UploadAction::FailBadStreamKey { status } => {
                fail(inner, broadcast_error(ErrorCode::BadStreamKey, format!("the relay refused the stream key (HTTP {status}): check streamId and streamKey")));
            }
        }
    }
    outcome
}

/// A stored segment: stats, state back to live, and the `segment` event.
pub(super) fn acknowledge(inner: &Shared, segment: &PendingSegment, upload_ms: f64, attempts: u32, transcoder: Option<&str>, renditions: &JsValue, payment: Option<JsValue>) {
    inner.borrow_mut().stats.segment_acknowledged(upload_ms);
    if inner.borrow().state == State::Reconnecting {
        set_state(inner, State::Live);
    }
    let renditions = if renditions.is_object() { renditions.clone() } else { Array::new().into() };
    let mut entries = vec![
        ("seq", (segment.seq as f64).into()),
        ("bytes", (segment.data.len() as f64).into()),
        ("durationMs", (segment.duration_ms as f64).into()),
        ("uploadMs", upload_ms.into()),
        ("attempts", attempts.into()),
        ("transcoder", transcoder.map_or(JsValue::NULL, JsValue::from)),
        ("renditions", renditions),
    ];
    if let Some(payment) = payment {
        entries.push(("payment", payment));
    }
    let detail = object(&entries);
    dispatch(inner, "segment", &detail.into());
}

/// Resolves `stop()`'s waits: once the worker has flushed, and once every segment is
/// uploaded too.
pub(super) fn check_drained(inner: &Shared) {
    let (flushed, done) = {
        let i = inner.borrow();
        let flushed = i.worker_finished || i.worker.is_none();
        (flushed, flushed && i.queue.is_empty() && !i.uploading)
    };
    if flushed {
        if let Some(resolve) = inner.borrow_mut().flushed.take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }
    if done {
        if let Some(resolve) = inner.borrow_mut().drained.take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }
}

/// `PUT` of a segment; the status and body, or `None` when no answer came (network, timeout).
pub(super) async fn http_put(url: &str, key: &str, body: &Uint8Array, headers: &[(&str, String)]) -> Option<(u16, String)> {
    http(url, "PUT", Some(key), Some((body.as_ref(), headers)), 30_000.0).await.ok()
}

/// One `fetch` with a timeout; `(status, body text)`.
pub(super) async fn http(url: &str, method: &str, key: Option<&str>, body: Option<(&JsValue, &[(&str, String)])>, timeout_ms: f64) -> Result<(u16, String), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let init = RequestInit::new();
    init.set_method(method);
    let headers = Headers::new()?;
    if let Some(key) = key {
        headers.set("Authorization", &format!("Bearer {key}"))?;
    }
    if let Some((bytes, extra)) = body {
        for (name, value) in extra {
            headers.set(name, value)?;
        }
        init.set_body(bytes);
    }
    init.set_headers(&headers);
    let abort = AbortController::new()?;
    init.set_signal(Some(&abort.signal()));
    let abort_on_timeout = Closure::once_into_js(move || abort.abort());
    let timer = window.set_timeout_with_callback_and_timeout_and_arguments_0(abort_on_timeout.unchecked_ref(), timeout_ms as i32)?;
    let result = async {
        let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await?.dyn_into()?;
        let text = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
        Ok::<_, JsValue>((response.status(), text))
    }
    .await;
    window.clear_timeout_with_handle(timer);
    result
}
