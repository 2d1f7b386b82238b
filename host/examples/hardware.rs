//! `hanzo-node hardware` on its own: the TEE and GPU probe in a binary small
//! enough to carry to a lent GPU machine (the node's, LanceDB and all, is
//! not). `tests/device/gpu-check.sh` runs it there; see `make device-bundle`.

fn main() -> anyhow::Result<()> {
    let hardware = hanzo_node::hardware::Hardware::probe_alone(Default::default());
    println!("{}", serde_json::to_string_pretty(&hardware.json())?);
    Ok(())
}
