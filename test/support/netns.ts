// The network-namespace bed lives in bench/harness/netns.ts (`slowq bench chaos --hosts` runs on it too).
export * from '../../bench/harness/netns.js';
