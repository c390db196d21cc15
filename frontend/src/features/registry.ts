/**
 * The feature registry: every `src/features/<name>/feature.tsx` that exists is
 * found at build time and becomes a menu entry + its routes. A new screen family
 * adds its own folder; nothing else to edit. Only the descriptor is eager: the
 * pages are `lazy()`, so each feature is its own chunk.
 */
import { SECTIONS, type Feature } from './types';

const modules = import.meta.glob<{ feature: Feature }>('./*/feature.tsx', { eager: true });

export const FEATURES: Feature[] = Object.values(modules)
  .map((module) => module.feature)
  .sort((a, b) => SECTIONS.indexOf(a.section) - SECTIONS.indexOf(b.section));

export function hasFeature(section: Feature['section']): boolean {
  return FEATURES.some((feature) => feature.section === section);
}
