from __future__ import annotations

from asyncgraph.checkpoint.base import empty_checkpoint
from asyncgraph.pregel._checkpoint import copy_checkpoint


def test_copy_checkpoint_detaches_its_dicts_but_shares_values() -> None:
    ckpt = empty_checkpoint()
    payload = ["m1"]
    ckpt["channel_values"]["messages"] = payload
    ckpt["channel_versions"]["messages"] = 1
    ckpt["versions_seen"]["agent"] = {"messages": 1}

    copied = copy_checkpoint(ckpt)
    copied["channel_values"]["extra"] = 1
    copied["channel_versions"]["messages"] = 2
    copied["versions_seen"]["agent"]["messages"] = 2

    assert copied == {**ckpt, "channel_values": {"messages": payload, "extra": 1},
                      "channel_versions": {"messages": 2}, "versions_seen": {"agent": {"messages": 2}}}
    assert ckpt["channel_values"] == {"messages": payload}
    assert ckpt["channel_versions"] == {"messages": 1}
    assert ckpt["versions_seen"] == {"agent": {"messages": 1}}
    assert copied["channel_values"]["messages"] is payload
