/** `--<name>=<number>` from the command line, or `dflt` (the bench's scripts: inventory, worker-threads). */
export function numberArg(name: string, dflt: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : dflt;
}
