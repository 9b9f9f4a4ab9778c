"""Tiny Node apps zipped in the layouts the Mastra CLI uploads."""

import io
import zipfile

HEALTHY = """
import http from 'node:http';
const port = Number(process.env.PORT);
http.createServer((req, res) => {
  if (req.url === '/health') { res.end('{"success":true}'); return; }
  if (req.url === '/env') {
    res.end(JSON.stringify({greeting: process.env.SAMPLE_GREETING ?? null}));
    return;
  }
  res.statusCode = 404; res.end('{}');
}).listen(port, process.env.MASTRA_HOST, () => console.log(`listening on ${port}`));
"""

CRASHES = """
console.error('boom: missing configuration');
process.exit(3);
"""

NEVER_LISTENS = """
console.log('starting but never listening');
setInterval(() => {}, 1000);
"""

PACKAGE = '{"name": "server", "version": "1.0.0", "type": "module", "private": true}'


def artifact(
    entry: str, layout: str = "server", package: str | None = PACKAGE
) -> bytes:
    prefix = ".mastra/output/" if layout == "server" else "output/"
    files = {prefix + "index.mjs": entry}
    if package is not None:
        files[prefix + "package.json"] = package
    if layout == "server":
        files["package.json"] = '{"name": "tiny-app"}'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()
