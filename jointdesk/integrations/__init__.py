"""Connections to systems outside JointDesk: providers' own systems, the approval system, the
SMS gateway. What crosses the boundary is signed the one way ``signing`` defines."""
