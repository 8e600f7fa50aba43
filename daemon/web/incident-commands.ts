/**
 * The shell commands the incident page offers to copy: the record as JSON and the profile in
 * pprof's web UI. With a token, `go tool pprof` cannot send the header, so the profile is fetched
 * with curl first; `$TAIL2_TOKEN` is the variable the `tail2` command reads too.
 */
export function incidentCommands(baseUrl: string, id: string, tokenConfigured: boolean): string {
  const api = `${baseUrl}/api/incidents/${encodeURIComponent(id)}`;
  const auth = tokenConfigured ? ' -H "Authorization: Bearer $TAIL2_TOKEN"' : '';
  const lines = [
    `# recent incidents, from a shell on any machine that reaches tail2d`,
    `tail2 incidents --url ${baseUrl}`,
    `# this incident as JSON`,
    `curl -fsS${auth} ${api}`,
    `# its profile in pprof's web UI`,
  ];
  if (tokenConfigured) lines.push(`curl -fsS${auth} -o ${id}.pb.gz ${api}/profile.pb.gz`, `go tool pprof -http=: ${id}.pb.gz`);
  else lines.push(`go tool pprof -http=: ${api}/profile.pb.gz`);
  return lines.join('\n');
}
