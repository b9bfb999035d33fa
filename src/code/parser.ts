/**
 * Tree-sitter parsers for source code, through web-tree-sitter (WebAssembly): the grammars are
 * the `.wasm` files shipped inside the tree-sitter-python and tree-sitter-javascript packages
 * (their native bindings are never built or loaded), found by module resolution so the code
 * works from src/, dist/ and any install layout.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, Parser, type Tree } from 'web-tree-sitter';
import { InvalidInputError, ModelFileError } from '../io/errors.js';

export const CODE_LANGUAGES = ['python', 'javascript'] as const;
export type CodeLanguage = (typeof CODE_LANGUAGES)[number];

/** Longest source parsed (characters): bounds the tree's memory before parsing. */
export const MAX_SOURCE_CHARS = 2_000_000;

const GRAMMAR_PACKAGES: Record<CodeLanguage, string> = {
  python: 'tree-sitter-python',
  javascript: 'tree-sitter-javascript',
};

const EXTENSIONS: Record<string, CodeLanguage> = {
  '.py': 'python',
  '.pyw': 'python',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript',
};

/** The language of a file by its extension, if it is one of CODE_LANGUAGES. */
export function languageForFile(file: string): CodeLanguage | undefined {
  return EXTENSIONS[path.extname(file).toLowerCase()];
}

export function checkLanguage(language: string): CodeLanguage {
  if (!(CODE_LANGUAGES as readonly string[]).includes(language)) throw new InvalidInputError(`unknown code language "${language}": expected ${CODE_LANGUAGES.join(' or ')}`);
  return language as CodeLanguage;
}

const require = createRequire(import.meta.url);

/** The grammar's .wasm inside its npm package (resolved like an import, not by a fixed path). */
function grammarFile(language: CodeLanguage): string {
  const pkg = GRAMMAR_PACKAGES[language];
  try {
    return require.resolve(`${pkg}/${pkg}.wasm`);
  } catch (e) {
    throw new ModelFileError(`${pkg}/${pkg}.wasm`, `the ${language} grammar is not installed (the npm package ${pkg} ships it): ${(e as Error).message}`, { cause: e });
  }
}

/** One tree-sitter parser per language, loaded once; trees must be deleted after use (WebAssembly memory). */
export class CodeParser {
  private readonly parsers = new Map<CodeLanguage, Parser>();

  private constructor(languages: ReadonlyMap<CodeLanguage, Language>) {
    for (const [name, language] of languages) this.parsers.set(name, new Parser().setLanguage(language));
  }

  /** Parses `source`; the caller deletes the tree. */
  parse(source: string, language: CodeLanguage): Tree {
    if (typeof source !== 'string') throw new InvalidInputError('source code must be a string');
    if (source.length > MAX_SOURCE_CHARS) throw new InvalidInputError(`source code is ${source.length} characters; at most ${MAX_SOURCE_CHARS} are parsed`);
    const parser = this.parsers.get(checkLanguage(language))!;
    const tree = parser.parse(source);
    if (tree === null) throw new InvalidInputError(`tree-sitter could not parse the ${language} source`);
    return tree;
  }

  static async load(): Promise<CodeParser> {
    await (initialised ??= Parser.init());
    const languages = new Map<CodeLanguage, Language>();
    for (const name of CODE_LANGUAGES) {
      const file = grammarFile(name);
      try {
        languages.set(name, await Language.load(file));
      } catch (e) {
        throw new ModelFileError(file, `cannot be loaded by web-tree-sitter (a grammar built for another tree-sitter ABI?): ${(e as Error).message}`, { cause: e });
      }
    }
    return new CodeParser(languages);
  }
}

let initialised: Promise<void> | undefined;
let shared: Promise<CodeParser> | undefined;

/** A parser shared by the process (grammars load once). */
export function codeParser(): Promise<CodeParser> {
  shared ??= CodeParser.load();
  shared.catch(() => (shared = undefined));
  return shared;
}
