/** Text as HTML content or an attribute value: the five characters that could open markup, as entities. */
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
