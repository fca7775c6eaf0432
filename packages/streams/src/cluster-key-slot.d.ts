declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot of a key (CRC16 of its hash tag or whole name, mod 16384). */
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
