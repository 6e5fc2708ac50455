// The delaying, dropping forwarder lives in bench/harness/forwarder.ts (`slowq bench chaos --hosts` uses it too).
export * from '../../bench/harness/forwarder.js';
