import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { LocatedProblem } from './located-problem.js';
import { YamlLocator, type YamlPath } from './yaml-locations.js';
import { yamlSyntaxProblems } from './yaml-syntax-problems.js';

/** Reports one problem at a path into the document: at its value, or at its key (`at: 'key'`). */
export type ReportAt = (path: YamlPath, message: string, at?: 'value' | 'key') => void;

/** A YAML file parsed with what it takes to point problems at its text. */
export interface LocatedYaml {
  doc: Document;
  locator: YamlLocator;
  /** Syntax errors, each where it was noticed and where the broken construct began; empty when it parsed. */
  syntaxProblems: LocatedProblem[];
}

/**
 * Parses a file people write (the rules file, tail2.yaml) keeping every node's position, so any
 * later problem — a syntax error, a zod issue, a check of its own — names `FILE:LINE:COL`.
 */
export function parseLocatedYaml(text: string, file: string): LocatedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const locator = new YamlLocator(doc, lineCounter, file);
  return { doc, locator, syntaxProblems: doc.errors.length > 0 ? yamlSyntaxProblems(text, doc.errors, locator) : [] };
}

/**
 * zod issues as located problems: each at its path (below `base`); an unknown-keys issue becomes
 * one problem per key, at the key, with the schema's own sentence when it gave one.
 */
export function reportZodIssues(issues: readonly z.core.$ZodIssue[], report: ReportAt, base: YamlPath = []): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      // zod's own sentence ("Unrecognized key: …") says nothing the location does not.
      const detail = /^Unrecognized key/.test(issue.message) ? '' : `: ${issue.message}`;
      for (const key of issue.keys) report([...path, key], `unknown key "${key}"${detail}`, 'key');
    } else {
      report(path, issue.message);
    }
  }
}
