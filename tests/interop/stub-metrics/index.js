'use strict';
// Stub: tchannel@4.0.1 depends on metrics@^0.1.21, which the registry no longer serves.
// Nothing on tchannel's runtime path requires it.
module.exports = {};
