#!/usr/bin/env node
// Builds the node tier's images (the podhooks tools image as sidecars/Dockerfile
// describes it, the pause image, and three app images) as docker archives in
// ~/.cache/podhooks/images, without a container engine; the node harness imports them
// into containerd. Cached by the hash of every input: later runs return at once.
// The recipes: test/node/images/images.js.
require('../test/node/images/images.js').main();
