export async function irToTflite(..._args: unknown[]): Promise<Uint8Array> {
  throw new Error('not yet');
}
