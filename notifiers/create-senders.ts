import type { NotifierConfig } from '../daemon/model/config.js';
import { EmailSender } from './email-sender.js';
import type { NotificationSender } from './delivery.js';
import { SlackSender } from './slack-sender.js';
import { SlackWebhookSender } from './slack-webhook-sender.js';

/** A sender for each notifier of tail2.yaml, by name. */
export function createSenders(notifiers: Record<string, NotifierConfig>): NotificationSender[] {
  return Object.entries(notifiers).map(([target, config]): NotificationSender => {
    switch (config.type) {
      case 'slack':
        return new SlackSender({ target, token: config.token, channel: config.channel, apiUrl: config.apiUrl });
      case 'slack_webhook':
        return new SlackWebhookSender({ target, url: config.url });
      case 'email':
        return new EmailSender({ target, smtp: config.smtp, from: config.from, to: config.to });
    }
  });
}
