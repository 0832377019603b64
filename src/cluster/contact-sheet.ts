import { UNSORTED_DIR } from '../dataset/scan.js';
import type { ClusteredFace, ClusterGroup } from './types.js';

export interface ContactSheetInput {
  groups: ClusterGroup[];
  faces: ClusteredFace[];
  unsorted: string[];
  /** JPEG of each face by `${photo}#${face}`. */
  thumbnails: Map<string, Uint8Array>;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function thumbnailsOf(faces: ClusteredFace[], thumbnails: Map<string, Uint8Array>): string {
  return faces
    .map((f) => {
      const jpeg = thumbnails.get(`${f.photo}#${f.face}`);
      return jpeg ? `<img class="face" src="data:image/jpeg;base64,${Buffer.from(jpeg).toString('base64')}" alt="" title="${escapeHtml(f.photo)}">` : '';
    })
    .join('');
}

function section(name: string, heading: string, faces: ClusteredFace[], thumbnails: Map<string, Uint8Array>, kind: string): string {
  return `<section class="${kind}" id="${escapeHtml(name)}" data-group="${escapeHtml(name)}">
<h2>${escapeHtml(name)}/ <small>${heading}</small></h2>
<div class="faces">${thumbnailsOf(faces, thumbnails)}</div>
</section>`;
}

/**
 * The contact sheet: one section per group with its faces (data URIs, so the file works on its
 * own, offline, and can be moved), the unsorted faces, and the photos showing several people.
 */
export function renderContactSheet({ groups, faces, unsorted, thumbnails }: ContactSheetInput): string {
  const sections = groups.map((g) =>
    section(g.name, `${plural(g.photos.length, 'photo')}, ${plural(g.faces, 'face')}${g.known ? ', named by the model or gallery' : ''}`, faces.filter((f) => f.group === g.name), thumbnails, 'group'),
  );
  const unsortedFaces = faces.filter((f) => f.group === UNSORTED_DIR);
  const groupsByPhoto = new Map<string, Set<string>>();
  for (const f of faces) if (f.group !== UNSORTED_DIR) groupsByPhoto.set(f.photo, (groupsByPhoto.get(f.photo) ?? new Set()).add(f.group));
  const shared = [...groupsByPhoto].filter(([, g]) => g.size > 1).sort(([a], [b]) => a.localeCompare(b));
  const sharedRows = shared.map(([photo, g]) => `<li>${escapeHtml(photo)}: ${[...g].sort().map((name) => `<a href="#${escapeHtml(name)}">${escapeHtml(name)}</a>`).join(', ')}</li>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>facetrain cluster: ${plural(groups.length, 'group')}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h2 { font-size: 1.1em; margin: 1.2em 0 0.4em; } h2 small { font-weight: normal; color: #666; }
.faces { display: flex; flex-wrap: wrap; gap: 4px; }
.face { width: 72px; height: 72px; border-radius: 4px; }
.unsorted .face { opacity: 0.7; }
</style>
</head>
<body>
<h1>${plural(groups.length, 'group')}, ${plural(faces.length, 'face')}</h1>
<p>Rename each <code>person-NN/</code> folder to the person's name, merge folders of one person and move wrong photos out, then run <code>facetrain train &lt;this folder&gt; --out &lt;model&gt;</code> (<code>unsorted/</code> is ignored).</p>
${sections.join('\n')}
${unsortedFaces.length > 0 || unsorted.length > 0 ? section(UNSORTED_DIR, `${plural(unsorted.length, 'photo')}, ${plural(unsortedFaces.length, 'face')} that matched nobody (photos without a face are here too)`, unsortedFaces, thumbnails, 'unsorted') : ''}
<section class="shared"><h2>Photos with several people <small>${plural(shared.length, 'photo')}</small></h2>
<ul>
${sharedRows}
</ul></section>
</body>
</html>
`;
}
