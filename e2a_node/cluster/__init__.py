"""The leader's driver: the members of one job, how peers are admitted, the job loop, the report.

    members.py    the `Member` protocol every worker of a job keeps, `Audio` (what members send
                  back besides the scheduler's own events), the leader's `LocalMember`
    admission.py  discovered node -> access check -> handshake -> member, with the peer states
                  and their backoff kept by `scheduler.peers.PeerTable`
    driver.py     `JobDriver`: events in, scheduler, instructions out to members, store and UI
    report.py     the job report, the per-node progress line, the timeline

This package imports the scheduler, the job plan, the audio store and the peer checks; it never
imports grpc, protobuf or zeroconf. A peer's member (its gRPC stream) lives in
`e2a_node.rpc.member` and depends on this package, not the reverse; convert.py wires them up
(tests/test_layering.py).
"""
