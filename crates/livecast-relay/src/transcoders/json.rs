//! `OrchestratorInfo` as JSON, following protobuf's canonical proto3 JSON mapping:
//! lowerCamelCase field names, `bytes` as standard base64, 64-bit integers as decimal
//! strings, 32-bit integers and booleans as JSON numbers and booleans, maps as objects with
//! string keys, absent sub-messages omitted. Fields at their default value are written too.

use base64::Engine;
use livecast_protocol::net::{
    capabilities, AuthToken, Capabilities, HardwareInformation, OrchestratorInfo, OsInfo, PriceInfo, TicketParams,
};
use serde_json::{json, Map, Value};

fn b64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn int64(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

/// The whole message.
pub fn orchestrator_info(info: &OrchestratorInfo) -> Value {
    let mut out = Map::new();
    out.insert("transcoder".into(), json!(info.transcoder));
    if let Some(t) = &info.ticket_params {
        out.insert("ticketParams".into(), ticket_params(t));
    }
    if let Some(p) = &info.price_info {
        out.insert("priceInfo".into(), price_info(p));
    }
    out.insert("address".into(), b64(&info.address));
    if let Some(c) = &info.capabilities {
        out.insert("capabilities".into(), capabilities_json(c));
    }
    if let Some(t) = &info.auth_token {
        out.insert("authToken".into(), auth_token(t));
    }
    out.insert("hardware".into(), info.hardware.iter().map(hardware).collect());
    out.insert("storage".into(), info.storage.iter().map(os_info).collect());
    out.insert("capabilitiesPrices".into(), info.capabilities_prices.iter().map(price_info).collect());
    out.insert("nodes".into(), json!(info.nodes));
    Value::Object(out)
}

fn ticket_params(t: &TicketParams) -> Value {
    let mut v = json!({
        "recipient": b64(&t.recipient),
        "faceValue": b64(&t.face_value),
        "winProb": b64(&t.win_prob),
        "recipientRandHash": b64(&t.recipient_rand_hash),
        "seed": b64(&t.seed),
        "expirationBlock": b64(&t.expiration_block),
    });
    if let Some(e) = &t.expiration_params {
        v["expirationParams"] = json!({
            "creationRound": int64(e.creation_round),
            "creationRoundBlockHash": b64(&e.creation_round_block_hash),
        });
    }
    v
}

fn price_info(p: &PriceInfo) -> Value {
    json!({
        "pricePerUnit": int64(p.price_per_unit),
        "pixelsPerUnit": int64(p.pixels_per_unit),
        "capability": p.capability,
        "constraint": p.constraint,
    })
}

fn auth_token(t: &AuthToken) -> Value {
    json!({ "token": b64(&t.token), "sessionId": t.session_id, "expiration": int64(t.expiration) })
}

fn capabilities_json(c: &Capabilities) -> Value {
    let mut capacities: Vec<_> = c.capacities.iter().collect();
    capacities.sort();
    let mut v = json!({
        "bitstring": c.bitstring.iter().map(int64).collect::<Vec<_>>(),
        "mandatories": c.mandatories.iter().map(int64).collect::<Vec<_>>(),
        "capacities": capacities.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>(),
        "version": c.version,
    });
    if let Some(k) = &c.constraints {
        v["constraints"] = constraints(k);
    }
    v
}

fn constraints(c: &capabilities::Constraints) -> Value {
    let per: Map<String, Value> = c
        .per_capability
        .iter()
        .map(|(cap, cc)| {
            let models: Map<String, Value> = cc
                .models
                .iter()
                .map(|(name, m)| {
                    let model = json!({
                        "warm": m.warm,
                        "capacity": m.capacity,
                        "runnerVersion": m.runner_version,
                        "capacityInUse": m.capacity_in_use,
                    });
                    (name.clone(), model)
                })
                .collect();
            (cap.to_string(), json!({ "models": models }))
        })
        .collect();
    json!({ "minVersion": c.min_version, "PerCapability": per })
}

fn hardware(h: &HardwareInformation) -> Value {
    let gpus: Map<String, Value> = h
        .gpu_info
        .iter()
        .map(|(k, g)| {
            let gpu = json!({
                "id": g.id,
                "name": g.name,
                "major": g.major,
                "minor": g.minor,
                "memoryFree": int64(g.memory_free),
                "memoryTotal": int64(g.memory_total),
            });
            (k.clone(), gpu)
        })
        .collect();
    json!({ "pipeline": h.pipeline, "modelId": h.model_id, "gpuInfo": gpus })
}

fn os_info(o: &OsInfo) -> Value {
    let mut v = json!({ "storageType": o.storage_type });
    if let Some(s) = &o.s3info {
        v["s3info"] = json!({
            "host": s.host,
            "key": s.key,
            "policy": s.policy,
            "signature": s.signature,
            "credential": s.credential,
            "xAmzDate": s.x_amz_date,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_shapes() {
        let info = OrchestratorInfo {
            transcoder: "https://127.0.0.1:8935".into(),
            address: vec![0xab; 20],
            price_info: Some(PriceInfo { price_per_unit: 5, pixels_per_unit: 1_000_000_000_000, ..Default::default() }),
            auth_token: Some(AuthToken { token: vec![1, 2, 3], session_id: "0a1b2c3d".into(), expiration: 1_700_000_000 }),
            capabilities: Some(Capabilities { bitstring: vec![4_503_599_627_370_495], version: "v".into(), ..Default::default() }),
            ..Default::default()
        };
        let v = orchestrator_info(&info);
        assert_eq!(v["transcoder"], "https://127.0.0.1:8935");
        assert_eq!(v["address"], "q6urq6urq6urq6urq6urq6urq6s=");
        assert_eq!(v["priceInfo"]["pixelsPerUnit"], "1000000000000");
        assert_eq!(v["authToken"]["token"], "AQID");
        assert_eq!(v["authToken"]["expiration"], "1700000000");
        assert_eq!(v["capabilities"]["bitstring"][0], "4503599627370495");
        assert!(v.get("ticketParams").is_none());
        assert_eq!(v["nodes"], json!([]));
    }
}
