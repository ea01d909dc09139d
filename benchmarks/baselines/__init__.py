"""Hand-written baselines: what a competent developer writes with PyJWT, ``secrets``
and the store's own client, without refreshkit. Each does the same work as the
refreshkit operation it is compared with, and no more."""
