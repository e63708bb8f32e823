/**
 * What a transport author needs: the transport-neutral `Hub` and `Spoke`, links and their writer, frame
 * codecs and the wire layout, length-prefixed framing, in-memory links, the listener registry and the
 * reporting helpers, beside the types and errors of the root entry. An application needs none of it: the
 * root entry and the transport subpaths have what it uses. docs/architecture.md describes the parts.
 * @module
 */
export * from '../core/index.js'
