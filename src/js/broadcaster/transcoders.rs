//! The broadcaster's transcoder nodes: discovery through the relay and its refresh, which
//! nodes a paying broadcast admits, the Livepeer headers (and ticket) of one upload to a node,
//! settling its payment from the answer, giving up transcoding a segment, and the winning
//! tickets counted for the stats.

use super::*;

/// Creates the transcoding session and asks the relay which nodes answer. No node is not
/// fatal: the broadcast goes on with the source only, and says so.
pub(super) async fn discover_transcoders(inner: &Shared, options: &Options, transcode: &TranscodeOptions) -> Result<(), LivecastError> {
    let unavailable = |message: String| broadcast_error(ErrorCode::TranscodeUnavailable, message);
    // With payments, the ticket sender signs the segments (nodes check they are the same),
    // and the price cap is the payment's, applied with a typed error per node.
    let payer_signer = inner.borrow().payer.as_ref().map(|p| (p.session_key().cloned(), p.handles()));
    let session = match payer_signer {
        Some((Some(key), _)) => TranscodeSession::with_key(key, &options.stream_id, transcode.profiles.clone(), f64::INFINITY),
        Some((None, (_, wallet, _, _))) => TranscodeSession::with_wallet(wallet, &options.stream_id, transcode.profiles.clone(), f64::INFINITY),
        None => TranscodeSession::new(&options.stream_id, transcode.profiles.clone(), transcode.max_price_per_pixel)
            .map_err(|e| unavailable(format!("cannot create the session key: {e}")))?,
    };
    inner.borrow_mut().transcode = Some(session);
    if !refresh_transcoders(inner).await? {
        inner.borrow_mut().transcode = None;
        return Ok(());
    }
    if inner.borrow().transcode.as_ref().is_some_and(|t| t.nodes().is_empty()) {
        emit_error(inner, ErrorCode::TranscodeUnavailable, "no transcoder answered within the price cap: broadcasting the source only".into(), false, None, None);
    }
    Ok(())
}

/// Asks the relay for every node's `OrchestratorInfo` with the session's signed request
/// and takes the answer (new auth tokens, ticket params and prices; history kept). `false`
/// when the relay refused discovery (said with an event).
pub(super) async fn refresh_transcoders(inner: &Shared) -> Result<bool, LivecastError> {
    let unavailable = |message: String| broadcast_error(ErrorCode::TranscodeUnavailable, message);
    let (relay_url, signer, address, request, digest) = {
        let i = inner.borrow();
        let Some(t) = i.transcode.as_ref() else { return Ok(false) };
        (i.options.relay_url.clone(), t.signer().clone(), t.address(), t.discovery_request().ok(), t.discovery_digest())
    };
    let sig = match (&signer, request) {
        (Signer::Key(_), Some(request)) => request.sig,
        (Signer::Wallet(wallet), _) => {
            let provider = inner.borrow().payer.as_ref().map(|p| p.handles().0).ok_or_else(|| unavailable("no wallet".into()))?;
            payer::wallet_sign_digest(&provider, *wallet, &digest).await?
        }
        (Signer::Key(_), None) => return Err(unavailable("cannot sign the discovery request".into())),
    };
    let body = object(&[("address", address.into()), ("sig", format!("0x{}", hex(&sig)).into())]);
    let body = js_sys::JSON::stringify(&body).map(String::from).unwrap_or_default();
    let url = format!("{relay_url}/api/transcoders/info");
    let answer = http(&url, "POST", None, Some((&JsValue::from(body), &[("Content-Type", "application/json".to_string())])), 15_000.0).await;
    let nodes = match answer {
        Ok((200, text)) => {
            let json = js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL);
            let list = Reflect::get(&json, &"transcoders".into()).ok().and_then(|l| l.dyn_into::<Array>().ok()).unwrap_or_default();
            list.iter()
                .filter_map(|entry| {
                    let uri = Reflect::get(&entry, &"uri".into()).ok()?.as_string()?;
                    let info = Reflect::get(&entry, &"infoBase64".into()).ok()?.as_string()?;
                    Some((uri, orchestrator_info_from_base64(&info)?))
                })
                .collect::<Vec<_>>()
        }
        Ok((status, _)) => {
            emit_error(inner, ErrorCode::TranscodeUnavailable, format!("the relay answered {status} to transcoder discovery: broadcasting the source only"), false, None, Some(status));
            return Ok(false);
        }
        Err(e) => return Err(unavailable(format!("transcoder discovery failed: {}", js_message(&e)))),
    };
    let nodes = admit_paid_nodes(inner, nodes);
    if let Some(t) = inner.borrow_mut().transcode.as_mut() {
        t.set_nodes(nodes);
    }
    Ok(true)
}

/// With payments, keeps the nodes the broadcast can pay, and says why each other one is
/// left out (`PRICE_TOO_HIGH`, `DEPOSIT_TOO_LOW`, `PAYMENT_REJECTED`).
pub(super) fn admit_paid_nodes(inner: &Shared, nodes: Vec<(String, OrchestratorInfo)>) -> Vec<(String, OrchestratorInfo)> {
    if inner.borrow().payer.is_none() {
        return nodes;
    }
    let mut kept = Vec::new();
    for (uri, info) in nodes {
        let refusal = inner.borrow_mut().payer.as_mut().and_then(|p| {
            let e = p.admit(&uri, &info).err()?;
            Some((p.first_report(&uri, &e.to_string()), e))
        });
        match refusal {
            Some((true, e)) => emit_error(inner, e.code(), e.to_string(), false, None, None),
            Some((false, _)) => {}
            None => kept.push((uri, info)),
        }
    }
    kept
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The next node for `segment` (not in `tried`) with its signed `Livepeer-Segment` and, with
/// payments, the tickets and the `Livepeer-Payment`; `None` without transcoding or nodes.
/// A wallet signer is asked with `personal_sign` (no borrow held meanwhile).
pub(super) async fn node_headers(inner: &Shared, segment: &PendingSegment, tried: &[String]) -> Result<Option<(String, String, Option<(Prepared, String)>)>, (String, LivecastError)> {
    let choice = {
        let i = inner.borrow();
        i.transcode.as_ref().and_then(|t| Some((t.choose(segment.seq, tried)?.clone(), t.signer().clone(), t.profiles().to_vec())))
    };
    let Some((node, signer, profiles)) = choice else { return Ok(None) };
    let uri = node.uri.clone();
    let fail = |e: LivecastError| (uri.clone(), e);
    let header = match &signer {
        Signer::Key(_) => {
            let i = inner.borrow();
            let t = i.transcode.as_ref().expect("chosen from the session");
            t.seg_data_header(&node, segment.seq, segment.duration_ms, &segment.data)
                .map_err(|e| fail(broadcast_error(ErrorCode::TranscodeFailed, format!("cannot sign segment {}: {e}", segment.seq))))?
        }
        Signer::Wallet(wallet) => {
            let (mut seg, digest) = {
                let i = inner.borrow();
                let t = i.transcode.as_ref().expect("chosen from the session");
                t.unsigned_seg_data(&node, segment.seq, segment.duration_ms, &segment.data)
                    .map_err(|e| fail(broadcast_error(ErrorCode::TranscodeFailed, format!("segment {}: {e}", segment.seq))))?
            };
            let provider = inner.borrow().payer.as_ref().map(|p| p.handles().0).ok_or_else(|| fail(broadcast_error(ErrorCode::InvalidState, "no wallet")))?;
            seg.sig = payer::wallet_sign_digest(&provider, *wallet, &digest).await.map_err(fail)?;
            seg_data_to_header(&seg)
        }
    };
    let prepared = {
        let mut i = inner.borrow_mut();
        match i.payer.as_mut() {
            None => None,
            Some(p) => match p.prepare(&uri, &profiles, segment.duration_ms) {
                Ok(prepared) => prepared,
                Err(e) => return Err(fail(payer::payment_error(e))),
            },
        }
    };
    let Some(prepared) = prepared else { return Ok(Some((uri, header, None))) };
    let batch = match &signer {
        Signer::Key(_) => inner.borrow().payer.as_ref().expect("a payer prepared it").sign(&prepared).map_err(fail)?,
        Signer::Wallet(wallet) => {
            let provider = inner.borrow().payer.as_ref().map(|p| p.handles().0).ok_or_else(|| fail(broadcast_error(ErrorCode::InvalidState, "no wallet")))?;
            payer::sign_with_wallet(&provider, *wallet, &prepared).await.map_err(fail)?
        }
    };
    let payment_header = batch.encode_header();
    Ok(Some((uri, header, Some((prepared, payment_header)))))
}

/// After the relay stored a transcoded segment: credit the tickets, debit the pixels the
/// node made, take its refreshed ticket params. The `payment` detail of the segment event.
pub(super) fn settle_payment(inner: &Shared, uri: Option<&str>, prepared: Option<&Prepared>, answer: &JsValue) -> Option<JsValue> {
    let (uri, prepared) = (uri?, prepared?);
    // `transcoder: null`: the renditions were already stored and no node was paid.
    Reflect::get(answer, &"transcoder".into()).ok()?.as_string()?;
    let renditions = Reflect::get(answer, &"renditions".into()).ok().and_then(|r| r.dyn_into::<Array>().ok()).unwrap_or_default();
    let pixels: f64 = renditions.iter().filter_map(|r| Reflect::get(&r, &"pixels".into()).ok()?.as_f64()).sum();
    let refreshed = Reflect::get(answer, &"infoBase64".into()).ok().and_then(|v| v.as_string()).and_then(|b| orchestrator_info_from_base64(&b));
    let (detail, refused) = {
        let mut i = inner.borrow_mut();
        let payer = i.payer.as_mut()?;
        let before = payer.payments.stats().fees_debited;
        payer.payments.settle(prepared, pixels.max(0.0) as u64);
        let fee = payer.payments.stats().fees_debited - before;
        let refused = refreshed.and_then(|info| payer.admit(uri, &info).err());
        let balance = payer.payments.balance(uri).map(|b| b.to_string()).unwrap_or_default();
        let detail = object(&[
            ("tickets", (prepared.tickets.len() as f64).into()),
            ("ev", prepared.expected_value().to_string().into()),
            ("fee", fee.to_string().into()),
            ("balance", balance.into()),
        ]);
        (detail, refused)
    };
    if let Some(e) = refused {
        // The node's new price or params cannot be paid: it is left out from now on.
        if let Some(t) = inner.borrow_mut().transcode.as_mut() {
            t.record(uri, u64::MAX / 2, Err(()));
        }
        emit_error(inner, e.code(), e.to_string(), false, None, None);
    }
    Some(detail.into())
}

/// No node could transcode `segment`: tell the relay, so its renditions show `EXT-X-GAP`
/// there instead of stalling players, and say so.
pub(super) async fn give_up_transcoding(inner: &Shared, segment: &PendingSegment, key: &str) {
    let url = {
        let i = inner.borrow();
        format!("{}/api/streams/{}/gaps", i.options.relay_url, i.options.stream_id)
    };
    let body = JsValue::from(format!("{{\"seq\":{}}}", segment.seq));
    let _ = http(&url, "POST", Some(key), Some((&body, &[("Content-Type", "application/json".to_string())])), 10_000.0).await;
    emit_error(inner, ErrorCode::TranscodeFailed, format!("no transcoder could transcode segment {}: the source is stored, its renditions show a gap", segment.seq), false, Some(segment.seq), None);
}

/// Every few stats reports (and at the last), reads how many of the sender's winning
/// tickets the broker has paid; one read at a time.
pub(super) fn poll_winning_tickets(inner: &Shared) {
    let handles = {
        let mut i = inner.borrow_mut();
        let due = i.stats_ticks % 5 == 1 || i.state != State::Live;
        match i.payer.as_mut() {
            Some(p) if due && !p.polling => {
                p.polling = true;
                Some(p.handles())
            }
            _ => None,
        }
    };
    let Some((provider, _, broker, sender)) = handles else { return };
    let weak = Rc::downgrade(inner);
    spawn_local(async move {
        let count = payer::winning_tickets(&provider, broker, sender).await;
        let Some(inner) = weak.upgrade() else { return };
        let mut i = inner.borrow_mut();
        if let Some(p) = i.payer.as_mut() {
            p.polling = false;
            if let Ok(n) = count {
                p.payments.set_winning_tickets(n);
            }
        }
    });
}
