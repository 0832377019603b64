import { readFile, stat } from 'node:fs/promises';
import { decodeVector, encodeVector } from '../model-dir/gallery.js';
import { FacetrainError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { cosine } from '../recognize/classifier.js';
import type { EnrollCount, FaceTemplate, GalleryStore, Neighbour, PersonSummary } from './store.js';

interface StoredTemplate {
  photoHash: string;
  file: string;
  /** base64 of the float32 unit vector, as in gallery.json */
  embedding: string;
}

interface TemplateFile {
  format: 'facetrain-gallery';
  dims: number;
  people: Record<string, StoredTemplate[]>;
}

interface Loaded {
  content: TemplateFile;
  vectors: Map<string, Float32Array[]>;
  mtimeMs: number;
}

/**
 * Templates in one JSON file, searched exactly in memory; every change rewrites the whole file
 * atomically. For small galleries used by one process: it is what the bench compares PGlite with.
 */
export class FileGalleryStore implements GalleryStore {
  private loaded?: Loaded;

  private constructor(
    private readonly file: string,
    readonly dims: number,
  ) {}

  get location(): string {
    return `file:${this.file}`;
  }

  static async open(file: string, dims: number): Promise<FileGalleryStore> {
    const store = new FileGalleryStore(file, dims);
    await store.current();
    return store;
  }

  /** The file as it is now: re-read when another process rewrote it. */
  private async current(): Promise<Loaded> {
    const mtimeMs = await stat(this.file).then((s) => s.mtimeMs, () => -1);
    if (this.loaded && this.loaded.mtimeMs === mtimeMs) return this.loaded;
    let content: TemplateFile = { format: 'facetrain-gallery', dims: this.dims, people: {} };
    if (mtimeMs >= 0) {
      try {
        content = JSON.parse(await readFile(this.file, 'utf8')) as TemplateFile;
      } catch (err) {
        throw new FacetrainError('FT_ERR_MODEL', `${this.file}: not a facetrain gallery (${(err as Error).message}); choose another \`gallery\` file`, { cause: err });
      }
      if (content.dims !== this.dims) throw new FacetrainError('FT_ERR_MODEL', `${this.file}: this gallery holds ${content.dims}-value embeddings but the model makes ${this.dims}; use a gallery made with the same base`);
    }
    const vectors = new Map(Object.entries(content.people).map(([name, ts]) => [name, ts.map((t) => decodeVector(t.embedding))]));
    this.loaded = { content, vectors, mtimeMs };
    return this.loaded;
  }

  private async save(content: TemplateFile): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(content));
    this.loaded = undefined;
  }

  async enroll(person: string, templates: FaceTemplate[]): Promise<EnrollCount> {
    const { content } = await this.current();
    const existing = content.people[person] ?? [];
    const known = new Set(existing.map((t) => t.photoHash));
    const fresh = templates.filter((t) => !known.has(t.photoHash) && known.add(t.photoHash));
    if (fresh.length > 0) {
      const people = { ...content.people, [person]: [...existing, ...fresh.map((t) => ({ photoHash: t.photoHash, file: t.file, embedding: encodeVector(t.embedding) }))] };
      await this.save({ ...content, people });
    } else if (!content.people[person]) await this.save({ ...content, people: { ...content.people, [person]: [] } });
    return { added: fresh.length, alreadyKnown: templates.length - fresh.length };
  }

  async forget(person: string): Promise<boolean> {
    const { content } = await this.current();
    if (!(person in content.people)) return false;
    const { [person]: _forgotten, ...people } = content.people;
    await this.save({ ...content, people });
    return true;
  }

  async people(): Promise<PersonSummary[]> {
    const { content } = await this.current();
    return Object.entries(content.people)
      .map(([name, ts]) => ({ name, templates: ts.length }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async count(): Promise<{ people: number; templates: number }> {
    const people = await this.people();
    return { people: people.length, templates: people.reduce((n, p) => n + p.templates, 0) };
  }

  async nearest(embedding: Float32Array, k: number): Promise<Neighbour[]> {
    const { content, vectors } = await this.current();
    const all: Neighbour[] = [];
    for (const [person, vs] of vectors) {
      vs.forEach((v, i) => {
        const t = content.people[person]![i]!;
        all.push({ person, file: t.file, photoHash: t.photoHash, similarity: cosine(embedding, v) });
      });
    }
    return all.sort((a, b) => b.similarity - a.similarity).slice(0, k);
  }

  async close(): Promise<void> {}
}
