"""Who writes: leader election on a Lease, and sharding of keys among several leaders.

Only the leader of a shard plans and writes its keys (SPEC section 5): the
elector (:mod:`~reconciler.leadership.elector`) holds a
``coordination.k8s.io/v1`` Lease with client-go's semantics, the shard filter
(:mod:`~reconciler.leadership.sharding`) says which keys are the shard's, and
:class:`~reconciler.leadership.role.Leadership` combines both into the two
questions the controller and the applier ask.
"""
