"""The case use cases: registering a case from any channel, the moves people make on it
(accept, return, merge, resolve, close), and the signed links grid members open it by."""
