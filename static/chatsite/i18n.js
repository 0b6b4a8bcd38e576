// The page's words in the reader's language, from Django's JavaScript catalog (/jsi18n/, loaded
// before the modules). Without it the English text is shown as written.
const catalog = window.django || {};

export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

export function pgettext(context, text) {
  return catalog.pgettext ? catalog.pgettext(context, text) : text;
}

export function ngettext(singular, plural, count) {
  if (catalog.ngettext) return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

/** Fill `%(name)s` placeholders, as Python's `%` does with a dict. */
export function format(template, values) {
  return template.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}

/** The language the page is in (`<html lang>`), for Intl formats. */
export const pageLanguage = document.documentElement.lang || undefined;
