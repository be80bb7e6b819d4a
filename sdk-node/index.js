'use strict';
// @weir/sdk: Weir's Node.js SDK over the Rust weir-sdk (napi-rs).
//  - Go-style, as in Rust and Python: Writer, Reader, Admin (lib/go.js)
//  - kafkajs-style: new Weir({brokers}).producer() / .consumer() / .admin() (lib/kafkajs.js)
//  - WeirError with a stable `code` (lib/native.js)

const { WeirError } = require('./lib/native');
const { Writer, Reader, Admin, FIRST_OFFSET, LAST_OFFSET } = require('./lib/go');
const { Weir, Producer, Consumer, KafkaAdmin, CompressionTypes, logLevel } = require('./lib/kafkajs');

module.exports = {
  Weir,
  Producer,
  Consumer,
  KafkaAdmin,
  Writer,
  Reader,
  Admin,
  WeirError,
  FIRST_OFFSET,
  LAST_OFFSET,
  CompressionTypes,
  logLevel,
};
